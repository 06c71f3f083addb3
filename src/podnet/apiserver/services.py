"""Service admission: ClusterIP and NodePort allocation, as the Kubernetes API server does it.

``ServiceAllocations`` is the table of which Service holds which ClusterIP and
NodePort (Kubernetes keeps the same bitmaps next to etcd). The Registry loads
it once from the store, then ``admit`` fills and checks a Service about to be
written (never touching the table) and ``commit`` records the outcome after the
store accepted the write, so a refused or dry-run write allocates nothing.

Rules followed: 10.96.0.1 belongs to default/kubernetes and 10.96.0.10 to
kube-system/kube-dns; a requested IP or port is honoured unless another Service
holds it; ``clusterIP: None`` (headless) is kept; ExternalName gets nothing; on
update an omitted clusterIP/nodePort keeps the allocated one and a changed
clusterIP is refused; NodePort and LoadBalancer Services get node ports (unless
``allocateLoadBalancerNodePorts: false``), plus a healthCheckNodePort for
LoadBalancer with ``externalTrafficPolicy: Local``.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from typing import Any

from podnet.api.config import ClusterConfig
from podnet.api.kinds import Obj
from podnet.apiserver.allocators import RangeFull, ip_in_range, pick_cluster_ip, pick_node_port
from podnet.apiserver.errors import Cause, Invalid, invalid_value
from podnet.store.base import StoreError

Key = tuple[str, str]
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def _key(svc: Obj) -> Key:
    m = svc.get("metadata") or {}
    return str(m.get("namespace") or ""), str(m.get("name") or "")


def _spec(svc: Obj | None) -> dict[str, Any]:
    spec = (svc or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def _type(svc: Obj | None) -> str:
    return str(_spec(svc).get("type") or "ClusterIP")


def cluster_ips_of(svc: Obj | None) -> list[str]:
    spec = _spec(svc)
    if _type(svc) == "ExternalName":
        return []
    ips = [str(i) for i in spec.get("clusterIPs") or []] or [str(spec.get("clusterIP") or "")]
    return [ip for ip in ips if ip and ip != "None"]


def node_ports_of(svc: Obj | None) -> list[int]:
    spec = _spec(svc)
    out = [int(p["nodePort"]) for p in spec.get("ports") or []
           if isinstance(p, dict) and p.get("nodePort")]
    if spec.get("healthCheckNodePort"):
        out.append(int(spec["healthCheckNodePort"]))
    return out


def drop_type_dependent_fields(new: Obj, old: Obj) -> None:
    """When an update changes ``spec.type``, drop the fields only the old type used, if the
    client left them as they were (Kubernetes' dropTypeDependentFields)."""
    new_type, old_type = _type(new), _type(old)
    if new_type == old_type:
        return
    spec, old_spec = _spec(new), _spec(old)

    def drop_if_unchanged(field: str) -> None:
        if field in spec and spec[field] == old_spec.get(field):
            spec.pop(field)

    if new_type not in NODE_PORT_TYPES:
        previous = {(p.get("port"), p.get("protocol") or "TCP"): p.get("nodePort")
                    for p in old_spec.get("ports") or [] if isinstance(p, dict)}
        for p in spec.get("ports") or []:
            key = (p.get("port"), p.get("protocol") or "TCP")
            if isinstance(p, dict) and p.get("nodePort") and p["nodePort"] == previous.get(key):
                p.pop("nodePort")
        if not spec.get("externalIPs"):
            drop_if_unchanged("externalTrafficPolicy")
    if new_type != "LoadBalancer":
        for f in ("healthCheckNodePort", "allocateLoadBalancerNodePorts", "loadBalancerClass"):
            drop_if_unchanged(f)
    if new_type == "ExternalName":
        for f in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            drop_if_unchanged(f)


class _Taken:
    """Membership over the shared table plus values reserved or picked during one admission."""

    def __init__(self, *tables: Any) -> None:
        self.tables = tables

    def __contains__(self, value: object) -> bool:
        return any(value in t for t in self.tables)


class ServiceAllocations:
    def __init__(self, config: ClusterConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random()
        self.ips: dict[str, Key] = {}
        self.ports: dict[int, Key] = {}
        self.loaded = False
        self.reserved: dict[str, Key] = {
            config.kubernetes_service_ip: ("default", "kubernetes"),
            config.dns_service_ip: ("kube-system", "kube-dns"),
        }

    def load(self, services: list[Obj]) -> None:
        self.ips.clear()
        self.ports.clear()
        for svc in services:
            self.commit(svc, None)
        self.loaded = True

    def commit(self, new: Obj | None, old: Obj | None) -> None:
        """Release what ``old`` held and record what ``new`` holds."""
        for svc, claim in ((old, False), (new, True)):
            if svc is None:
                continue
            key = _key(svc)
            for ip in cluster_ips_of(svc):
                if claim:
                    self.ips[ip] = key
                elif self.ips.get(ip) == key:
                    del self.ips[ip]
            for port in node_ports_of(svc):
                if claim:
                    self.ports[port] = key
                elif self.ports.get(port) == key:
                    del self.ports[port]

    # -- admission --
    def admit(self, svc: Obj, old: Obj | None) -> None:
        """Fill ``svc``'s clusterIP(s) and node ports in place; raise Invalid on collisions."""
        causes: list[Cause] = []
        spec = svc.setdefault("spec", {})
        self._cluster_ip(svc, spec, old, causes)
        self._node_ports(svc, spec, old, causes)
        if causes:
            raise Invalid("Service", _key(svc)[1], causes)

    def _owner_ip(self, ip: str) -> Key | None:
        return self.ips.get(ip) or self.reserved.get(ip)

    def _cluster_ip(self, svc: Obj, spec: dict[str, Any], old: Obj | None,
                    causes: list[Cause]) -> None:
        if _type(svc) == "ExternalName":
            return
        key = _key(svc)
        ips = spec.get("clusterIPs") or []
        requested = str(spec.get("clusterIP") or (ips[0] if ips else "") or "")
        old_ips = cluster_ips_of(old) or (["None"] if _spec(old).get("clusterIP") == "None" else [])
        if old_ips:
            if not requested:
                requested = old_ips[0]
            elif requested != old_ips[0]:
                causes.append(invalid_value("spec.clusterIP", requested, "field is immutable"))
                return
        if requested == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
            return
        cidr = self.config.service_cidr
        if requested:
            if not ip_in_range(cidr, requested):
                causes.append(invalid_value(
                    "spec.clusterIPs[0]", requested,
                    f"provided IP is not in the valid range. The range of valid IPs is {cidr}"))
                return
            requested = str(ipaddress.ip_address(requested))
            if self._owner_ip(requested) not in (None, key):
                causes.append(invalid_value("spec.clusterIPs[0]", requested,
                                            "provided IP is already allocated"))
                return
            ip = requested
        else:
            ip = next((i for i, owner in self.reserved.items()
                       if owner == key and self.ips.get(i) in (None, key)), "")
            try:
                ip = ip or pick_cluster_ip(cidr, _Taken(self.ips, self.reserved), self.rng)
            except RangeFull:
                raise StoreError("failed to allocate a serviceIP: range is full") from None
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        version = ipaddress.ip_address(ip).version
        spec.setdefault("ipFamilies", [f"IPv{version}"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")

    def _check_port(self, field: str, port: int, key: Key, causes: list[Cause]) -> bool:
        lo, hi = self.config.node_port_range
        if not lo <= port <= hi:
            causes.append(invalid_value(field, port, "provided port is not in the valid range. "
                                        f"The range of valid ports is {lo}-{hi}"))
            return False
        if self.ports.get(port) not in (None, key):
            causes.append(invalid_value(field, port, "provided port is already allocated"))
            return False
        return True

    def _pick_port(self, local: set[int]) -> int:
        try:
            return pick_node_port(self.config.node_port_range, _Taken(self.ports, local), self.rng)
        except RangeFull:
            raise StoreError("failed to allocate a nodePort: range is full") from None

    def _node_ports(self, svc: Obj, spec: dict[str, Any], old: Obj | None,
                    causes: list[Cause]) -> None:
        key, stype = _key(svc), _type(svc)
        needs = stype in NODE_PORT_TYPES
        auto = stype == "NodePort" or (
            needs and spec.get("allocateLoadBalancerNodePorts") is not False)
        old_needs = _type(old) in NODE_PORT_TYPES
        previous = {(p.get("port"), p.get("protocol") or "TCP"): p.get("nodePort")
                    for p in _spec(old).get("ports") or [] if isinstance(p, dict)}
        local: set[int] = set()
        for i, port in enumerate(self._ports(spec)):
            np = int(port.get("nodePort") or 0)
            was = previous.get((port.get("port"), port.get("protocol") or "TCP"))
            if not needs:
                if np and old_needs and np == was:
                    port.pop("nodePort")  # the type no longer uses node ports: drop the old one
                continue
            np = np or (int(was) if was and old_needs else 0)
            if np:
                if not self._check_port(f"spec.ports[{i}].nodePort", np, key, causes):
                    continue
            elif auto:
                np = self._pick_port(local)
            else:
                continue
            local.add(np)
            port["nodePort"] = np
        wants_hc = stype == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"
        hc = int(spec.get("healthCheckNodePort") or 0)
        old_hc = int(_spec(old).get("healthCheckNodePort") or 0)
        if not wants_hc:
            if hc and hc == old_hc:
                spec.pop("healthCheckNodePort")
            return
        hc = hc or old_hc
        if hc:
            if self._check_port("spec.healthCheckNodePort", hc, key, causes):
                spec["healthCheckNodePort"] = hc
        else:
            spec["healthCheckNodePort"] = self._pick_port(local)

    @staticmethod
    def _ports(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for p in spec.get("ports") or []:
            if isinstance(p, dict):
                yield p
