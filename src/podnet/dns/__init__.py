"""podnet.dns."""
