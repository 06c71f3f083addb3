"""Pod garbage collection: finishes deletions nobody else will finish.

A bound pod that is deleted gracefully only gets ``deletionTimestamp``; its
node agent stops it and removes it. When that grace period has run out and
the node has no live agent (the node is gone or not Ready), or the pod was never
bound, this controller deletes it with grace period 0. Pods bound to a node
that no longer exists are deleted too (after checking the store, not only the
cache). Runs on a timer as well, since grace periods expire by time alone.
"""

from __future__ import annotations

from podnet.api.kinds import Obj, name_of, namespace_of
from podnet.controllers.base import Controller
from podnet.controllers.podutil import is_terminating, node_ready, parse_time
from podnet.store.base import NotFound, WatchEvent


class PodGCController(Controller):
    name = "pod-gc"
    watches = ("pods", "nodes")
    resync_seconds = 5.0

    def wakes(self, resource: str, ev: WatchEvent) -> bool:
        """Pod events matter only for terminating pods and pods of unknown nodes: a pod being
        created, bound or becoming Ready (most events) gives this controller nothing to do."""
        if resource != "pods" or ev.type == "DELETED":
            return resource != "pods"
        pod = ev.object
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        return is_terminating(pod) or bool(node_name and self.cached("nodes", "", node_name) is None)

    async def reconcile(self) -> int:
        start = self.writes
        for pod in self.objects("pods"):
            node_name = str((pod.get("spec") or {}).get("nodeName") or "")
            node = self.cached("nodes", "", node_name) if node_name else None
            what = f"pod {namespace_of(pod)}/{name_of(pod)}"
            if is_terminating(pod):
                deadline = parse_time(pod["metadata"].get("deletionTimestamp")) or 0.0
                expired = self.now() >= deadline
                if not node_name or (expired and (node is None or not node_ready(node))):
                    await self.guard(what, self.delete("pods", pod, grace_period_seconds=0))
            elif node_name and node is None:
                await self.guard(what, self._orphaned(pod, node_name))
        return self.writes - start

    async def _orphaned(self, pod: Obj, node_name: str) -> None:
        try:
            await self.store.get("nodes", "", node_name)
            return  # the cache lags behind; the node exists
        except NotFound:
            pass
        await self.delete("pods", pod, grace_period_seconds=0)
