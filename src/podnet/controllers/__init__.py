"""Controllers: level-triggered asyncio loops that make the store's objects converge
(Deployments -> ReplicaSets -> Pods, StatefulSets, DaemonSets, scheduling,
EndpointSlices, namespaces, service IP/port repair, defaults)."""
