"""The pure proxy planner: Services + EndpointSlices + this node -> a :class:`ProxyPlan`.

No I/O, no root: the same function feeds the live applier on every node, the
offline ``podnet explain`` and the unit tests. Behaviour follows kube-proxy's
nftables mode (KEP-3866) wherever the issue is silent:

- Services labelled ``service.kubernetes.io/service-proxy-name`` belong to
  another proxy (unless the label equals our ``proxy_name``); Services or
  EndpointSlices labelled ``service.kubernetes.io/headless`` are not proxied;
  headless (clusterIP None) and ExternalName Services get no rules.
- Frontends: each ClusterIP port; externalIPs and LoadBalancer ingress IPs
  (not those with ``ipMode: Proxy``) like ClusterIPs but "external"; NodePorts
  on each of this node's addresses (kube-proxy nftables' default
  ``--nodeport-addresses primary``).
- internalTrafficPolicy Local: the ClusterIP uses node-local endpoints only.
  externalTrafficPolicy Local: clients from outside the cluster use node-local
  endpoints only, unmasqueraded; pods and the node itself still use all
  endpoints (kube-proxy's short-circuit), the node's own traffic masqueraded.
- sessionAffinity ClientIP with ``timeoutSeconds`` (default 10800).
- loadBalancerSourceRanges (spec field, or the legacy annotation) restrict
  LoadBalancer ingress IPs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from podnet.api.config import ClusterConfig
from podnet.api.kinds import Obj, labels_of, name_of, namespace_of
from podnet.proxy.endpoints import (
    endpoints_for_port,
    local_usable,
    slices_by_service,
    usable,
)
from podnet.proxy.model import Frontend, FrontendKind, HealthCheck, Masquerade, ProxyPlan

PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
HEADLESS_LABEL = "service.kubernetes.io/headless"
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
DEFAULT_AFFINITY_TIMEOUT = 10800
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


def _ipv4(values: Iterable[Any]) -> list[str]:
    out = []
    for v in values:
        try:
            ip = ipaddress.ip_address(str(v))
        except ValueError:
            continue
        if ip.version == 4:
            out.append(str(ip))
    return out


def skip_reason(obj: Obj, proxy_name: str | None) -> str | None:
    """Why a Service (or EndpointSlice) is not ours to proxy, or None."""
    labels = labels_of(obj)
    owner = labels.get(PROXY_NAME_LABEL)
    if owner is not None and owner != proxy_name:
        return f"label {PROXY_NAME_LABEL}={owner}"
    if owner is None and proxy_name is not None:
        return f"not labelled {PROXY_NAME_LABEL}={proxy_name}"
    if HEADLESS_LABEL in labels:
        return f"label {HEADLESS_LABEL}"
    spec = obj.get("spec") or {}
    if obj.get("kind", "Service") == "Service":
        if spec.get("type") == "ExternalName":
            return "type ExternalName"
        if spec.get("clusterIP") == "None":
            return "headless (clusterIP None)"
    return None


def _source_ranges(svc: Obj) -> tuple[str, ...]:
    spec = svc.get("spec") or {}
    ranges = list(spec.get("loadBalancerSourceRanges") or [])
    if not ranges:
        note = ((svc.get("metadata") or {}).get("annotations") or {}).get(SOURCE_RANGES_ANNOTATION)
        ranges = [r.strip() for r in str(note or "").split(",") if r.strip()]
    out = []
    for r in ranges:
        try:
            net = ipaddress.ip_network(str(r), strict=False)
        except ValueError:
            continue
        if net.version == 4:
            out.append(str(net))
    return tuple(out)


def _lb_ips(svc: Obj) -> list[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return _ipv4(i.get("ip") for i in ingress if i.get("ip") and i.get("ipMode") != "Proxy")


def service_key(obj: Obj) -> str:
    """"namespace/name" of a Service (or of the Service an EndpointSlice belongs to)."""
    return f"{namespace_of(obj) or 'default'}/{name_of(obj)}"


def plan_service(
    svc: Obj,
    slices: list[Obj],
    node_name: str,
    node_ips: tuple[str, ...],
    proxy_name: str | None = None,
) -> tuple[list[Frontend], HealthCheck | None, str | None]:
    """One Service's frontends, its health check and, when it gets none, why.

    ``slices`` are the Service's EndpointSlices (already grouped by service).
    """
    reason = skip_reason(svc, proxy_name)
    if reason is not None:
        return [], None, reason
    slices = [s for s in slices if skip_reason(s, proxy_name) is None]
    key = service_key(svc)
    return (
        _service_frontends(svc, key, slices, node_name, node_ips),
        _health_check(svc, key, slices, node_name),
        None,
    )


def plan(
    services: Iterable[Obj],
    endpoint_slices: Iterable[Obj],
    node_name: str,
    node_ips: Iterable[str],
    config: ClusterConfig | None = None,
    proxy_name: str | None = None,
) -> ProxyPlan:
    """The frontends this node programs, in a stable order."""
    cfg = config or ClusterConfig()
    node_ip_list = tuple(_ipv4(node_ips))
    slices = slices_by_service(endpoint_slices)
    frontends: dict[tuple[str, str, int], Frontend] = {}
    checks: list[HealthCheck] = []
    skipped: dict[str, str] = {}
    for svc in sorted(services, key=service_key):
        key = service_key(svc)
        fes, check, reason = plan_service(
            svc, slices.get(key, []), node_name, node_ip_list, proxy_name
        )
        if reason is not None:
            skipped[key] = reason
        for fe in fes:
            frontends.setdefault(fe.key, fe)  # first owner of an ip:port wins
        if check is not None:
            checks.append(check)
    return ProxyPlan(
        node=node_name,
        node_ips=node_ip_list,
        pod_cidr=cfg.pod_cidr,
        frontends=tuple(frontends.values()),
        health_checks=tuple(checks),
        skipped=skipped,
    )


def _service_frontends(
    svc: Obj, key: str, slices: list[Obj], node: str, node_ips: tuple[str, ...]
) -> list[Frontend]:
    spec = svc.get("spec") or {}
    svc_type = spec.get("type") or "ClusterIP"
    cluster_ips = _ipv4(spec.get("clusterIPs") or [spec.get("clusterIP")])
    external_ips = _ipv4(spec.get("externalIPs") or [])
    lb_ips = _lb_ips(svc) if svc_type == "LoadBalancer" else []
    externally_accessible = svc_type in ("NodePort", "LoadBalancer") or bool(external_ips)
    etp_local = externally_accessible and spec.get("externalTrafficPolicy") == "Local"
    itp_local = spec.get("internalTrafficPolicy") == "Local"
    affinity = None
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        affinity = int(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    ranges = _source_ranges(svc)
    out: list[Frontend] = []
    for sp in spec.get("ports") or []:
        proto = PROTOCOLS.get(str(sp.get("protocol") or "TCP").upper())
        port = sp.get("port")
        if proto is None or not isinstance(port, int):
            continue
        name = str(sp.get("name") or "")
        every = endpoints_for_port(slices, name, proto)
        cluster = usable(every)
        local = local_usable(every, node)
        common: dict[str, Any] = {
            "protocol": proto, "service": key, "port_name": name,
            "has_endpoints": bool(cluster), "affinity_timeout": affinity,
        }
        for ip in cluster_ips:
            out.append(Frontend(
                ip=ip, port=port, kind=FrontendKind.CLUSTER_IP,
                endpoints=local if itp_local else cluster, internal_local=itp_local,
                masquerade=Masquerade.NON_POD, **common,
            ))
        external: dict[str, Any] = {
            "endpoints": cluster,
            "local_endpoints": local if etp_local else None,
            "masquerade": Masquerade.LOCAL_SOURCE if etp_local else Masquerade.ALWAYS,
        }
        for ip in external_ips:
            out.append(Frontend(ip=ip, port=port, kind=FrontendKind.EXTERNAL_IP,
                                **external, **common))
        for ip in lb_ips:
            out.append(Frontend(ip=ip, port=port, kind=FrontendKind.LOAD_BALANCER,
                                source_ranges=ranges, **external, **common))
        node_port = sp.get("nodePort")
        if svc_type in ("NodePort", "LoadBalancer") and isinstance(node_port, int) and node_port:
            for ip in node_ips:
                out.append(Frontend(ip=ip, port=node_port, kind=FrontendKind.NODE_PORT,
                                    **{**common, **external}))
    return out


def _health_check(svc: Obj, key: str, slices: list[Obj], node: str) -> HealthCheck | None:
    spec = svc.get("spec") or {}
    port = spec.get("healthCheckNodePort")
    if spec.get("type") != "LoadBalancer" or spec.get("externalTrafficPolicy") != "Local":
        return None
    if not isinstance(port, int) or not port:
        return None
    ips = {
        str(ep["addresses"][0])
        for sl in slices
        for ep in sl.get("endpoints") or []
        if ep.get("addresses") and ep.get("nodeName") == node
        and (ep.get("conditions") or {}).get("ready") is not False
    }
    return HealthCheck(port=port, service=key, local_endpoints=len(ips))
