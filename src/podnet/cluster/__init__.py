"""podnet.cluster."""
