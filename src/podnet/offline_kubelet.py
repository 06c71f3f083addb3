"""The offline kubelet: what node agents would report, computed without running anything.

For the offline pipeline only. Every pod bound to a known node gets the status a
healthy node agent would post: ``phase: Running``, ``hostIP`` (the node's
InternalIP), a ``podIP`` from the node's ``spec.podCIDR`` (host-local style:
.2, .3, ... handed out in (namespace, name) order, skipping addresses already
in use; ``hostNetwork`` pods get the node's IP) and the conditions
PodScheduled, Initialized, ContainersReady and Ready all True.

Pods that arrived with a status of their own (a dump of a real cluster) are
*observed* and never touched: they keep their podIP, hostIP and phase. Only
missing fields are ever filled in.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable
from typing import Any

from podnet.api.kinds import Obj, name_of, namespace_of, node_internal_ip
from podnet.controllers.informer import InformerSet
from podnet.store.base import Store

READY_CONDITIONS = ("PodScheduled", "Initialized", "ContainersReady", "Ready")


def _pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [str(p.get("ip")) for p in status.get("podIPs") or [] if p.get("ip")]
    if status.get("podIP"):
        ips.append(str(status["podIP"]))
    return ips


class OfflineKubelet:
    """Fills in pod status for every bound pod that is not ``observed``."""

    def __init__(self, store: Store, observed: Iterable[tuple[str, str]] = (),
                 now: str = "", informers: InformerSet | None = None) -> None:
        self.store = store
        self.informers = informers
        if informers is not None:  # register before the first relist
            informers.get("pods")
            informers.get("nodes")
        self.observed = set(observed)
        self.now = now
        self._cursor: dict[str, int] = {}  # per pass: where each range's scan goes on

    async def sync(self) -> int:
        """One pass over all pods; returns the number of status writes."""
        nodes = {name_of(n): n for n in await self._list("nodes")}
        pods = await self._list("pods")
        used: set[str] = {ip for p in pods for ip in _pod_ips(p)}
        self._cursor = {}
        writes = 0
        for pod in sorted(pods, key=lambda p: (namespace_of(p), name_of(p))):
            node = nodes.get(str((pod.get("spec") or {}).get("nodeName") or ""))
            if node is None or (namespace_of(pod), name_of(pod)) in self.observed:
                continue
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            status = self._status(pod, node, used)
            if status != (pod.get("status") or {}):
                out = await self.store.update_status("pods", {**pod, "status": status})
                if self.informers is not None:
                    self.informers.get("pods").observe(out)
                writes += 1
        return writes

    async def _list(self, resource: str) -> list[Obj]:
        """From the controllers' caches when sharing them (kept exact by write-through)."""
        if self.informers is not None:
            return self.informers.get(resource).items()
        return (await self.store.list(resource))[0]

    def _status(self, pod: Obj, node: Obj, used: set[str]) -> dict[str, Any]:
        status: dict[str, Any] = copy.deepcopy(pod.get("status") or {})
        host_ip = node_internal_ip(node)
        if status.get("phase") in (None, "", "Pending"):
            status["phase"] = "Running"
        if host_ip:
            status.setdefault("hostIP", host_ip)
            status.setdefault("hostIPs", [{"ip": host_ip}])
        if not status.get("podIP"):
            if (pod.get("spec") or {}).get("hostNetwork"):
                ip = host_ip
            else:
                ip = self._allocate(str((node.get("spec") or {}).get("podCIDR") or ""), used)
            if ip:
                status["podIP"] = ip
                status["podIPs"] = [{"ip": ip}]
        have = {c.get("type") for c in status.get("conditions") or []}
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"
                 or c.get("status") == "True"]
        for ctype in READY_CONDITIONS:
            if ctype not in have or not any(c.get("type") == ctype for c in conds):
                cond: dict[str, Any] = {"type": ctype, "status": "True"}
                if self.now:
                    cond["lastTransitionTime"] = self.now
                conds.append(cond)
        status["conditions"] = conds
        if "containerStatuses" not in status:
            status["containerStatuses"] = [
                {"name": c.get("name", ""), "ready": True, "restartCount": 0, "started": True,
                 "image": c.get("image", ""), "imageID": "", "state": {"running": {}}}
                for c in (pod.get("spec") or {}).get("containers") or []]
        return status

    def _allocate(self, cidr: str, used: set[str]) -> str:
        if not cidr:
            return ""
        net = ipaddress.ip_network(cidr, strict=False)
        first = int(net.network_address) + 2  # .1 is the node's gateway address
        last = int(net.broadcast_address) - 1
        start = max(first, self._cursor.get(cidr, first))
        for n in range(start, last + 1):
            self._cursor[cidr] = n + 1
            ip = str(ipaddress.ip_address(n))
            if ip not in used:
                used.add(ip)
                return ip
        return ""
