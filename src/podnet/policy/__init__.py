"""podnet.policy."""
