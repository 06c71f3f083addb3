"""The node agent: pod sandboxes, CNI calls, workloads, probes, heartbeat; and the
per-node built-in server (netexec) that answers for pods without a command."""
