"""ClusterIP repair: a Service of a ClusterIP-bearing type without ``spec.clusterIP``
gets a free address of the service range.

The Registry allocates ClusterIPs at admission, so through it this loop has
nothing to do; it exists for objects written straight into a backend (tests,
restored backups), like Kubernetes' repair loop for its allocator. It uses the
same allocator as the Registry (random in the dynamic band, the first
addresses kept for hand-picked IPs; 10.96.0.1 and 10.96.0.10 are never handed
out); in deterministic mode the pick is seeded by the Service's name.
"""

from __future__ import annotations

import copy
import random

from podnet.api.kinds import Obj, name_of, namespace_of
from podnet.apiserver.allocators import pick_cluster_ip
from podnet.controllers.base import Controller


class ServiceRepairController(Controller):
    name = "service-ip-repair"
    watches = ("services",)

    async def reconcile(self) -> int:
        start = self.writes
        services = self.objects("services")
        used = {str(s["spec"]["clusterIP"]) for s in services
                if (s.get("spec") or {}).get("clusterIP")}
        used |= {self.config.kubernetes_service_ip, self.config.dns_service_ip}
        for svc in services:
            spec = svc.get("spec") or {}
            if spec.get("clusterIP") or spec.get("type") == "ExternalName":
                continue
            await self.guard(f"service {namespace_of(svc)}/{name_of(svc)}",
                             self._allocate(svc, used))
        return self.writes - start

    async def _allocate(self, svc: Obj, used: set[str]) -> None:
        seed = f"{namespace_of(svc)}/{name_of(svc)}"
        rng = random.Random(seed) if self.options.deterministic_names else random.Random()
        ip = pick_cluster_ip(self.config.service_cidr, used, rng)
        out = copy.deepcopy(svc)
        out["spec"]["clusterIP"] = ip
        out["spec"]["clusterIPs"] = [ip]
        await self.update("services", out)
        used.add(ip)
