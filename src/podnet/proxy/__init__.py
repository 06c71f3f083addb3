"""podnet.proxy."""
