"""CNI 1.1 plugins (podnet-bridge, podnet-host-local) and the runtime-side invoker."""
