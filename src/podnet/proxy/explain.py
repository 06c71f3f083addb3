"""Explain what the proxy does to one new connection, from the plan alone (pure).

``explain(plan, client_ip, dest_ip, port, protocol)`` follows the same steps
as the nftables layout (:mod:`podnet.proxy.layout`), over the same
:class:`~podnet.proxy.model.ProxyPlan`: source-range firewall, empty-service
verdicts, the frontend class, the traffic-policy choice of endpoint set, SNAT
and affinity. ``podnet explain`` (live or offline) prints the result; the
kernel tests check that real connections land exactly on ``candidates``.

The plan is a node's plan: pass the plan of the node the packet enters
(the client's node for a pod or a node; the target node for outside traffic).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from podnet.proxy.layout import fe_key, pick_chain
from podnet.proxy.model import Endpoint, FrontendKind, Masquerade, ProxyPlan


@dataclass(frozen=True)
class Explanation:
    client: str
    client_class: str  # "pod" | "node" | "external"
    destination: str  # "ip:port/protocol"
    verdict: str  # "dnat" | "reject" | "drop" | "not-a-service"
    reason: str
    rule: str
    service: str | None = None
    frontend_kind: str | None = None
    candidates: tuple[Endpoint, ...] = ()
    snat: bool = False
    snat_reason: str = ""
    hairpin: bool = False  # the client is a candidate: masqueraded if picked
    affinity_timeout: int | None = None

    @property
    def dnat_targets(self) -> list[str]:
        return [e.target for e in self.candidates]

    def to_dict(self) -> dict[str, Any]:
        return {
            "client": self.client, "clientClass": self.client_class,
            "destination": self.destination, "verdict": self.verdict,
            "reason": self.reason, "rule": self.rule, "service": self.service,
            "frontend": self.frontend_kind, "dnatTargets": self.dnat_targets,
            "snat": self.snat, "snatReason": self.snat_reason, "hairpin": self.hairpin,
            "affinity": ({"type": "ClientIP", "timeoutSeconds": self.affinity_timeout}
                         if self.affinity_timeout else None),
        }


def client_class(plan: ProxyPlan, client_ip: str, local: bool = False) -> str:
    """How the data path classifies a source: pod CIDR, this node, or outside."""
    ip = ipaddress.ip_address(client_ip)
    if ip in ipaddress.ip_network(plan.pod_cidr):
        return "pod"
    if local or client_ip in plan.node_ips or ip.is_loopback:
        return "node"
    return "external"


def explain(
    plan: ProxyPlan,
    client_ip: str,
    dest_ip: str,
    port: int,
    protocol: str = "TCP",
    client_local: bool = False,
) -> Explanation:
    """What happens to a new ``protocol`` connection from ``client_ip`` to ``dest_ip:port``."""
    proto = protocol.lower()
    cls = client_class(plan, client_ip, client_local)
    base: dict[str, Any] = {
        "client": client_ip, "client_class": cls, "destination": f"{dest_ip}:{port}/{proto}",
    }
    fe = plan.frontend(dest_ip, proto, port)
    if fe is None:
        return Explanation(verdict="not-a-service", reason="no service frontend matches",
                           rule="no element in @service-ips or @no-endpoints", **base)
    key = fe_key(fe)
    base.update(service=fe.service, frontend_kind=fe.kind.value,
                affinity_timeout=fe.affinity_timeout)
    if fe.kind is FrontendKind.LOAD_BALANCER and fe.source_ranges:
        src = ipaddress.ip_address(client_ip)
        if not any(src in ipaddress.ip_network(r) for r in fe.source_ranges):
            return Explanation(
                verdict="drop", rule=f"service-checks: {key} in @firewall-restricted",
                reason=f"source not in loadBalancerSourceRanges {list(fe.source_ranges)}",
                **base)
    empty = fe.when_empty
    if empty == "reject":
        return Explanation(verdict="reject", rule=f"@no-endpoints {key} -> reject-service",
                           reason="service has no ready or serving endpoints", **base)
    if empty == "drop":
        return Explanation(verdict="drop", rule=f"@no-endpoints {key} -> drop",
                           reason="internalTrafficPolicy Local and no endpoint on this node",
                           **base)
    local_path = False
    if fe.kind is FrontendKind.CLUSTER_IP:
        chain = "cluster-ip"
        snat = cls != "pod"
        snat_reason = "source outside the pod CIDR" if snat else "pod source kept"
    elif fe.masquerade is Masquerade.ALWAYS:
        chain, snat = "external", True
        snat_reason = "externalTrafficPolicy Cluster masquerades external destinations"
    else:
        chain = "external-local"
        snat = cls == "node"
        local_path = cls == "external"
        snat_reason = {
            "pod": "pod source short-circuits to all endpoints, kept",
            "node": "the node's own traffic is masqueraded",
            "external": "externalTrafficPolicy Local keeps the client IP",
        }[cls]
    candidates = (fe.local_endpoints or ()) if local_path else fe.endpoints
    if local_path and not candidates:
        return Explanation(verdict="drop", rule=f"external-local: {key} not in @local-dispatch",
                           reason="externalTrafficPolicy Local and no endpoint on this node",
                           **base)
    pick = pick_chain(len(candidates), fe.affinity_timeout, local_path)
    dispatch = "@local-dispatch" if local_path else "@dispatch"
    via = (f"@service-ips {key} -> cluster-ip-{pick}" if fe.kind is FrontendKind.CLUSTER_IP
           else f"@service-ips {key} -> {chain}; {dispatch} -> {pick}")
    hairpin = cls == "pod" and any(e.ip == client_ip for e in candidates)
    return Explanation(
        verdict="dnat",
        rule=via,
        reason=f"{fe.kind.value} of {fe.service} port {fe.port_name or fe.port}",
        candidates=tuple(candidates), snat=snat, snat_reason=snat_reason, hairpin=hairpin,
        **base,
    )
