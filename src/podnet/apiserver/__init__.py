"""The API server: admission (validate, default, allocate), Kubernetes REST paths
over HTTP on a unix socket, watch streams, and the typed client.

registry.Registry    admission in front of a Store (admission, services, deletion)
server.serve         the HTTP server (routes, handlers, watchstream, fields)
client.Client        the Store protocol over HTTP; errors.* map Status <-> exceptions
patch                JSON merge patch and kubectl-style apply
allocators           pure ClusterIP / NodePort picking
discovery, openapi   what kubectl reads first (aggregated discovery, a minimal OpenAPI v3)
table, mediatypes    meta.k8s.io Table answers for kubectl get; Accept negotiation
strategic            strategic merge patch (kubectl apply)
tls                  the cluster CA and serving certificate of the HTTPS listener
"""
