"""The API server: admission (validate, default, allocate), Kubernetes REST paths
over HTTP on a unix socket, watch streams, and the typed client."""
