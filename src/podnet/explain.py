"""``podnet explain``: what happens to one connection, from the same planners the data
path uses — the service proxy's plan (which rule, candidate endpoints, DNAT, SNAT,
affinity) and the NetworkPolicy verdict with its reasons for each pod it can reach.

Pure: it takes the cluster's objects (listed live from the API server, or built
offline from manifests) and answers; nothing here touches the kernel.

SRC is ``ns/pod``, ``pod`` (namespace default), ``ns/workload`` (its first running
pod), ``node/NAME``, ``external`` or an IP.
DST is ``ns/name[:PORT[/PROTO]]`` naming a pod or a Service (a pod wins when both
exist), or ``IP[:PORT[/PROTO]]`` (pod IP, ClusterIP, node IP for a NodePort, LB IP).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from podnet.api.config import ClusterConfig
from podnet.api.kinds import Obj, node_internal_ip
from podnet.policy.explain import format_verdict, parse_target
from podnet.policy.resolve import resolve
from podnet.policy.semantics import Verdict, verdict
from podnet.proxy.explain import Explanation
from podnet.proxy.explain import explain as explain_service
from podnet.proxy.plan import plan


@dataclass
class Objects:
    pods: Sequence[Obj]
    services: Sequence[Obj]
    endpoint_slices: Sequence[Obj]
    nodes: Sequence[Obj]
    namespaces: Sequence[Obj] = ()
    network_policies: Sequence[Obj] = ()


@dataclass
class ConnectionExplanation:
    src: str
    dst: str
    service: Explanation | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        if self.service is not None and self.service.verdict != "dnat":
            return False
        return any(v.allowed for v in self.verdicts)

    def text(self) -> str:
        lines = [f"{self.src} -> {self.dst}"]
        if self.service is not None:
            s = self.service
            lines.append(f"service proxy: {s.verdict.upper()} ({s.reason})")
            lines.append(f"  rule: {s.rule}")
            if s.service:
                lines.append(f"  service: {s.service} ({s.frontend_kind})")
            if s.candidates:
                lines.append("  candidate endpoints (one picked at random per connection): "
                             + ", ".join(s.dnat_targets))
                lines.append(f"  SNAT: {'yes' if s.snat else 'no'} ({s.snat_reason})"
                             + ("; hairpin: masqueraded when the client picks itself" if s.hairpin else ""))
            if s.affinity_timeout:
                lines.append(f"  sessionAffinity ClientIP, timeout {s.affinity_timeout}s")
        lines += [f"note: {n}" for n in self.notes]
        if self.verdicts:
            lines.append("network policy:")
            lines += ["  " + line for v in self.verdicts for line in format_verdict(v).splitlines()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.src, "to": self.dst, "allowed": self.allowed,
                "service": self.service.to_dict() if self.service else None,
                "policy": [{"from": v.src, "to": v.dst, "port": v.port, "protocol": v.protocol,
                            "allowed": v.allowed, "reason": v.reason} for v in self.verdicts],
                "notes": self.notes}


def _pod(objs: Objects, key: str, workload: bool = False) -> Obj | None:
    """The pod ``ns/name``; with ``workload``, else the first pod of a workload ``ns/name``
    (``shop/frontend`` -> ``shop/frontend-7d9f-x2b4k``), so sources read naturally."""
    ns, _, name = key.rpartition("/")
    ns = ns or "default"
    mine = sorted((p for p in objs.pods if (p.get("metadata") or {}).get("namespace") == ns),
                  key=lambda p: p["metadata"]["name"])
    for p in mine:
        if p["metadata"]["name"] == name:
            return p
    if workload:
        for p in mine:
            if p["metadata"]["name"].startswith(f"{name}-") and (p.get("status") or {}).get("podIP"):
                return p
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _source(objs: Objects, config: ClusterConfig, src: str) -> tuple[str, str, str | None]:
    """(label for policy, client IP, node name whose proxy plan applies or None)."""
    if src == "external":
        ext = str(ipaddress.ip_network(config.subnets[0] if config.subnets else config.node_cidr)[2])
        return ext, ext, None
    if src.startswith("node/"):
        name = src[5:]
        node = next((n for n in objs.nodes if n["metadata"]["name"] == name), None)
        if node is None:
            raise ValueError(f"unknown node {name!r}")
        return node_internal_ip(node), node_internal_ip(node), name
    if _is_ip(src):
        pod = next((p for p in objs.pods if (p.get("status") or {}).get("podIP") == src), None)
        node = next((n["metadata"]["name"] for n in objs.nodes if node_internal_ip(n) == src), None)
        return src, src, (pod or {}).get("spec", {}).get("nodeName") if pod else node
    pod = _pod(objs, src, workload=True)
    if pod is None:
        raise ValueError(f"unknown source {src!r}: give ns/pod, node/NAME, external or an IP")
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        raise ValueError(f"pod {src} has no IP yet")
    m = pod["metadata"]
    return f"{m['namespace']}/{m['name']}", str(ip), (pod.get("spec") or {}).get("nodeName")


def _headless_endpoints(objs: Objects, svc: Obj, port: int | None, proto: str
                        ) -> list[tuple[str, int, str]]:
    """(pod IP, its port, protocol) behind a headless Service's port (the first when None)."""
    ports = (svc.get("spec") or {}).get("ports") or []
    want = next((p for p in ports if port is None or int(p["port"]) == port), None)
    if want is None:
        return []
    name, protocol = want.get("name", ""), str(want.get("protocol", "TCP"))
    out = []
    for es in objs.endpoint_slices:
        m = es.get("metadata") or {}
        if (m.get("namespace") != svc["metadata"].get("namespace")
                or (m.get("labels") or {}).get("kubernetes.io/service-name") != svc["metadata"]["name"]):
            continue
        nums = [int(p["port"]) for p in es.get("ports") or [] if p.get("name", "") == name and p.get("port")]
        for e in es.get("endpoints") or []:
            out += [(a, n, protocol) for a in e.get("addresses") or [] for n in nums]
    return out


def explain_connection(objs: Objects, config: ClusterConfig, src: str, dst: str) -> ConnectionExplanation:
    """Explain SRC -> DST (see the module docstring for the forms)."""
    target, port, proto = parse_target(dst)
    src_label, client_ip, client_node = _source(objs, config, src)
    resolved = resolve(objs.pods, objs.namespaces, objs.network_policies, objs.nodes)
    out = ConnectionExplanation(src_label if "/" in src_label else src, dst)
    pod = None if _is_ip(target) else _pod(objs, target)
    if pod is not None or (_is_ip(target) and target in resolved.by_ip):
        name = target if pod is not None else resolved.pods[resolved.by_ip[target]].key
        if port is None:
            from podnet.policy.explain import explain as explain_policy

            out.verdicts = explain_policy(resolved, src_label, name)
        else:
            out.verdicts = [verdict(resolved, src_label, name, port, proto)]
        return out
    dest_ip = target
    if not _is_ip(target):
        ns, _, name = target.rpartition("/")
        svc = next((s for s in objs.services if s["metadata"].get("namespace") == (ns or "default")
                    and s["metadata"]["name"] == name), None)
        if svc is None:
            raise ValueError(f"{target!r} is neither a pod nor a Service")
        dest_ip = str((svc.get("spec") or {}).get("clusterIP") or "")
        if dest_ip in ("", "None"):
            out.notes.append(f"{target} is headless: no proxy rule, clients reach its pods directly "
                             "(DNS lists them)")
            for ip, pod_port, pod_proto in _headless_endpoints(objs, svc, port, proto):
                if ip in resolved.by_ip:
                    out.verdicts.append(verdict(resolved, src_label, resolved.pods[resolved.by_ip[ip]].key,
                                                pod_port, pod_proto))
            return out
        if port is None:
            ports = (svc.get("spec") or {}).get("ports") or []
            if not ports:
                raise ValueError(f"Service {target} has no ports")
            port, proto = int(ports[0]["port"]), str(ports[0].get("protocol", "TCP"))
    if port is None:
        raise ValueError("give a port: DST:PORT[/PROTO]")
    node = client_node or next((n["metadata"]["name"] for n in objs.nodes if node_internal_ip(n) == dest_ip),
                               None) or (objs.nodes[0]["metadata"]["name"] if objs.nodes else "")
    node_obj = next((n for n in objs.nodes if n["metadata"]["name"] == node), None)
    node_ips = [node_internal_ip(node_obj)] if node_obj else []
    p = plan(objs.services, objs.endpoint_slices, node, node_ips, config)
    out.service = explain_service(p, client_ip, dest_ip, port, proto,
                                  client_local=client_node is not None and src.startswith("node/"))
    if out.service.verdict == "not-a-service":
        out.notes.append(f"{dest_ip} is not a Service address or a known pod")
        return out
    for e in out.service.candidates:
        if e.ip in resolved.by_ip:
            out.verdicts.append(verdict(resolved, src_label, resolved.pods[resolved.by_ip[e.ip]].key,
                                        e.port, proto))
    return out
