"""LoadBalancer IPs: type=LoadBalancer Services get ``status.loadBalancer.ingress[].ip`` from a pool.

The cluster's stand-in for a cloud controller's IP allocation (like MetalLB's
controller). The pool is ``ClusterConfig.lb_pool``: comma-separated ranges
``A-B`` or CIDRs on the underlay (default ``172.18.255.200-172.18.255.250``).

Level-triggered, with the Services' status as the only record (no table of
its own): each pass collects which pool IPs the handled Services already show,
then

* a Service of type LoadBalancer without ``spec.loadBalancerClass`` (classed
  ones belong to another implementation and are never touched) keeps the pool
  IP it has; when it asks for ``spec.loadBalancerIP`` it gets exactly that IP if
  it is in the pool and free, otherwise it stays pending (no ingress) — like a
  cloud, it never silently hands out another address; otherwise the lowest
  free pool IP;
* a Service that is no longer of type LoadBalancer loses the pool IPs in its
  status (the status is cleared); a deleted Service's IP is free on the next pass;
* an IP shown by two Services (status written by someone else, a restored
  backup) stays with the older one (creationTimestamp, then namespace/name);
  the other is reassigned. Pool IPs used as some Service's ``externalIPs`` are
  never handed out.

Ingress entries get ``ipMode: VIP``: the proxy on every node programs the IP
like a ClusterIP (see ``podnet.proxy.plan``). How packets from outside reach a
node for that IP is not this controller's business (see docs/proxy.md).
"""

from __future__ import annotations

import copy
import ipaddress
import logging
from typing import Any

from podnet.api.kinds import Obj, name_of, namespace_of
from podnet.controllers.base import Controller

log = logging.getLogger(__name__)


def parse_pool(pool: str) -> list[ipaddress.IPv4Network]:
    """``"A-B, C/24"`` -> the networks covering it (summarized ranges), in order.

    Raises ValueError for anything that is not an IPv4 range or CIDR.
    """
    out: list[ipaddress.IPv4Network] = []
    for part in (p.strip() for p in pool.split(",")):
        if not part:
            continue
        if "-" in part:
            first_s, _, last_s = part.partition("-")
            first = ipaddress.IPv4Address(first_s.strip())
            last = ipaddress.IPv4Address(last_s.strip())
            if last < first:
                raise ValueError(f"pool range {part!r}: end before start")
            out.extend(ipaddress.summarize_address_range(first, last))
        else:
            out.append(ipaddress.IPv4Network(part, strict=False))
    return out


def pool_addresses(pool: str) -> list[str]:
    """Every address of the pool once, in order (a range: all of it; a CIDR: its hosts)."""
    out: list[str] = []
    seen: set[str] = set()
    for part in (p.strip() for p in pool.split(",")):
        if not part:
            continue
        nets = parse_pool(part)
        if "-" in part or nets[0].prefixlen >= 31:
            ips = [ip for net in nets for ip in net]
        else:
            ips = list(nets[0].hosts())
        for ip in map(str, ips):
            if ip not in seen:
                seen.add(ip)
                out.append(ip)
    return out


def handled(svc: Obj) -> bool:
    """Is this Service ours to give a pool IP (type LoadBalancer, no loadBalancerClass)?"""
    spec = svc.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def ingress_ips(svc: Obj) -> list[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [str(i["ip"]) for i in ingress if isinstance(i, dict) and i.get("ip")]


def _age_key(svc: Obj) -> tuple[str, str]:
    m = svc.get("metadata") or {}
    return (str(m.get("creationTimestamp") or "~"), f"{namespace_of(svc)}/{name_of(svc)}")


class LoadBalancerController(Controller):
    name = "loadbalancer-ip"
    watches = ("services",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = pool_addresses(self.config.lb_pool)
        self.pool_set = set(self.pool)

    async def reconcile(self) -> int:
        start = self.writes
        services = sorted(self.objects("services"), key=_age_key)
        owner: dict[str, str] = {}  # pool IP -> "ns/name" keeping it
        for svc in services:
            for ext in (svc.get("spec") or {}).get("externalIPs") or []:
                owner.setdefault(str(ext), f"externalIPs of {namespace_of(svc)}/{name_of(svc)}")
        wanted: dict[str, str | None] = {}  # "ns/name" -> the IP it should show (None: none)
        pending: list[Obj] = []
        for svc in services:  # oldest first: existing assignments survive conflicts
            key = f"{namespace_of(svc)}/{name_of(svc)}"
            if not handled(svc) or (svc.get("metadata") or {}).get("deletionTimestamp"):
                continue
            requested = str((svc.get("spec") or {}).get("loadBalancerIP") or "")
            current = [ip for ip in ingress_ips(svc) if ip in self.pool_set]
            keep = next((ip for ip in current if ip not in owner
                         and (not requested or ip == requested)), None)
            if keep is not None:
                owner[keep] = key
                wanted[key] = keep
            else:
                pending.append(svc)
        for svc in pending:
            key = f"{namespace_of(svc)}/{name_of(svc)}"
            requested = str((svc.get("spec") or {}).get("loadBalancerIP") or "")
            if requested:
                ip: str | None = requested if (requested in self.pool_set
                                               and requested not in owner) else None
                if ip is None:
                    log.info("service %s: loadBalancerIP %s is %s; left pending", key, requested,
                             "taken" if requested in owner else "not in the pool")
            else:
                ip = next((a for a in self.pool if a not in owner), None)
                if ip is None:
                    log.warning("service %s: LoadBalancer pool %s exhausted", key,
                                self.config.lb_pool)
            if ip is not None:
                owner[ip] = key
            wanted[key] = ip
        for svc in services:
            key = f"{namespace_of(svc)}/{name_of(svc)}"
            if handled(svc):
                if key in wanted:
                    await self.guard(f"service {key}", self._set(svc, wanted[key]))
            elif (svc.get("spec") or {}).get("loadBalancerClass") is None and any(
                    ip in self.pool_set for ip in ingress_ips(svc)):
                await self.guard(f"service {key}", self._set(svc, None))  # type changed
        return self.writes - start

    async def _set(self, svc: Obj, ip: str | None) -> None:
        """Write ``ip`` as the Service's only pool ingress (others' entries kept)."""
        lb = (svc.get("status") or {}).get("loadBalancer") or {}
        ingress = [i for i in lb.get("ingress") or []
                   if not (isinstance(i, dict) and i.get("ip") in self.pool_set)]
        if ip is not None:
            ingress.insert(0, {"ip": ip, "ipMode": "VIP"})
        if ingress == (lb.get("ingress") or []):
            return
        out = copy.deepcopy(svc)
        status = out.setdefault("status", {})
        status["loadBalancer"] = {**lb, "ingress": ingress} if ingress else {}
        await self.update_status("services", out)
