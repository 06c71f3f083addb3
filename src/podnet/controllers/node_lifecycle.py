"""Node lifecycle: a node whose agent stopped heartbeating becomes NotReady.

A node's heartbeat is the newer of its Ready condition's ``lastHeartbeatTime``
and its Lease ``kube-node-lease/<node>`` ``spec.renewTime`` (a node that never
beat counts from its creation). When it is older than the grace period
(default 40 s, ``ControllerOptions.node_grace_seconds``) the node's conditions
become ``Unknown`` with reason NodeStatusUnknown, as Kubernetes' node lifecycle
controller does. Pods on a node whose Ready condition is not True get their own
Ready condition set False, so the EndpointSlice controller reports their
endpoints as not ready. The loop also runs on a timer, since time alone makes
a heartbeat stale.
"""

from __future__ import annotations

import copy

from podnet.api.kinds import Obj, name_of, namespace_of
from podnet.controllers.base import Controller
from podnet.controllers.podutil import (
    condition,
    is_ready,
    is_terminal,
    parse_time,
    set_condition,
)
from podnet.store.base import WatchEvent

UNKNOWN_MESSAGE = "Kubelet stopped posting node status."


class NodeLifecycleController(Controller):
    name = "node-lifecycle"
    watches = ("nodes", "leases", "pods")

    def resync_interval(self) -> float | None:
        return max(min(self.options.node_grace_seconds / 4, 5.0), 0.05)

    def wakes(self, resource: str, ev: WatchEvent) -> bool:
        """A pod event matters only when its node is not Ready (its pods lose readiness)."""
        if resource != "pods":
            return True
        node = self.cached("nodes", "", str((ev.object.get("spec") or {}).get("nodeName") or ""))
        ready = condition(node, "Ready") if node is not None else None
        return ready is not None and ready.get("status") != "True"

    def heartbeat(self, node: Obj) -> float | None:
        beats = [parse_time((condition(node, "Ready") or {}).get("lastHeartbeatTime"))]
        lease = self.cached("leases", "kube-node-lease", name_of(node))
        if lease is not None:
            beats.append(parse_time((lease.get("spec") or {}).get("renewTime")))
        known = [b for b in beats if b is not None]
        if known:
            return max(known)
        return parse_time((node.get("metadata") or {}).get("creationTimestamp"))

    async def reconcile(self) -> int:
        start = self.writes
        not_ready: set[str] = set()
        for node in self.objects("nodes"):
            await self.guard(f"node {name_of(node)}", self._check(node))
            node = self.cached("nodes", "", name_of(node)) or node
            ready = condition(node, "Ready")
            if ready is not None and ready.get("status") != "True":
                not_ready.add(name_of(node))
        for pod in self.objects("pods"):
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name in not_ready and is_ready(pod) and not is_terminal(pod):
                await self.guard(f"pod {namespace_of(pod)}/{name_of(pod)}",
                                 self._pod_not_ready(pod))
        return self.writes - start

    async def _check(self, node: Obj) -> None:
        beat = self.heartbeat(node)
        if beat is None or self.now() - beat <= self.options.node_grace_seconds:
            return
        status = copy.deepcopy(node.get("status") or {})
        now = self.now_str()
        changed = False
        types = [c.get("type") for c in status.get("conditions") or []] or ["Ready"]
        if "Ready" not in types:
            types.append("Ready")
        for ctype in types:
            changed |= set_condition(status, {
                "type": ctype, "status": "Unknown", "reason": "NodeStatusUnknown",
                "message": UNKNOWN_MESSAGE,
            }, now)
        if changed:
            await self.update_status("nodes", {**node, "status": status})

    async def _pod_not_ready(self, pod: Obj) -> None:
        status = copy.deepcopy(pod.get("status") or {})
        set_condition(status, {"type": "Ready", "status": "False", "reason": "NodeNotReady"},
                      self.now_str())
        await self.update_status("pods", {**pod, "status": status})
