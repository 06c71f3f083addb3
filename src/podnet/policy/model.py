"""NetworkPolicy objects, parsed once into normalised, immutable values.

Kubernetes leaves a lot to defaulting and to the difference between a missing
and an empty field. This module settles all of it, so that the verdict code,
the truth table and (later) the nftables gatekeeper never look at raw dicts:

- ``spec.podSelector`` missing or ``{}`` selects every pod of the namespace.
- ``policyTypes`` missing: Ingress always, Egress only when ``spec.egress`` has
  rules. Listed explicitly: exactly those; rules of an unlisted type are ignored.
- A rule with no ``from``/``to`` (or an empty list) admits every peer, pods and
  outside IPs alike; a rule with no ``ports`` admits every port and protocol.
- A peer carries a podSelector, a namespaceSelector, both (AND: those pods in
  those namespaces), or an ipBlock. A peer with none of them is invalid and
  matches nothing (``Peer.valid`` is False, lint reports it).
- A port without ``protocol`` is TCP; without ``port`` it is every port of that
  protocol; ``endPort`` widens a numeric port to a range; a string port is a
  named port, resolved later against the destination pod's containers.

Pods are reduced to ``PodInfo`` (identity, labels, IP, node, declared ports).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from podnet.api.kinds import Obj, labels_of, name_of, namespace_of
from podnet.api.selectors import EVERYTHING, Selector, from_label_selector

PROTOCOLS = ("TCP", "UDP", "SCTP")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ContainerPort:
    """One declared ``containerPort`` (protocol defaulted to TCP)."""

    port: int
    protocol: str = "TCP"
    name: str = ""


@dataclass(frozen=True)
class PodInfo:
    """What policy evaluation needs to know about one pod."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    ip: str = ""
    node: str = ""
    host_ip: str = ""
    host_network: bool = False
    ports: tuple[ContainerPort, ...] = ()

    @property
    def key(self) -> str:
        """``ns/name``: how tables and verdicts name a pod."""
        return f"{self.namespace}/{self.name}"

    def named_port(self, name: str, protocol: str) -> int | None:
        """The number behind a named port for this protocol, or None."""
        for cp in self.ports:
            if cp.name == name and cp.protocol == protocol:
                return cp.port
        return None


@dataclass(frozen=True)
class IPBlock:
    """``cidr`` minus ``except``."""

    cidr: IPNet
    excepts: tuple[IPNet, ...] = ()

    def contains(self, ip: str | IPAddr) -> bool:
        try:
            addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        except ValueError:
            return False
        if addr.version != self.cidr.version or addr not in self.cidr:
            return False
        return not any(addr in ex for ex in self.excepts if ex.version == addr.version)

    def __str__(self) -> str:
        ex = f" except {', '.join(map(str, self.excepts))}" if self.excepts else ""
        return f"ipBlock {self.cidr}{ex}"


@dataclass(frozen=True)
class Peer:
    """One entry of ``from``/``to``. Exactly one of the forms is set when valid.

    ``namespace_selector`` None with a pod selector means "the policy's own
    namespace"; both set means AND.
    """

    pod_selector: Selector | None = None
    namespace_selector: Selector | None = None
    ip_block: IPBlock | None = None
    valid: bool = True

    def __str__(self) -> str:
        if self.ip_block is not None:
            return str(self.ip_block)
        if not self.valid:
            return "invalid peer (no selector, no ipBlock)"
        parts = []
        if self.namespace_selector is not None:
            parts.append(f"namespaceSelector {{{self.namespace_selector}}}")
        if self.pod_selector is not None:
            parts.append(f"podSelector {{{self.pod_selector}}}")
        return " and ".join(parts)


@dataclass(frozen=True)
class PortSpec:
    """One ``ports`` entry: ``port`` None is every port of ``protocol``."""

    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None

    @property
    def named(self) -> bool:
        return isinstance(self.port, str)

    def matches_number(self, port: int, protocol: str) -> bool:
        """Numeric match only; a named port never matches here (see Resolved)."""
        if protocol != self.protocol or isinstance(self.port, str):
            return False
        if self.port is None:
            return True
        if self.end_port is not None:
            return self.port <= port <= self.end_port
        return port == self.port

    def __str__(self) -> str:
        if self.port is None:
            return f"all {self.protocol} ports"
        if self.end_port is not None and not self.named:
            return f"{self.port}-{self.end_port}/{self.protocol}"
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True)
class Rule:
    """One ingress or egress rule. ``peers`` empty: every peer; ``ports`` empty: every port."""

    peers: tuple[Peer, ...] = ()
    ports: tuple[PortSpec, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A normalised NetworkPolicy."""

    namespace: str
    name: str
    pod_selector: Selector
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    isolates_ingress: bool = True
    isolates_egress: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _int_or_str(value: Any) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text) if text.isdigit() else text


def parse_port(raw: Mapping[str, Any]) -> PortSpec:
    proto = str(raw.get("protocol") or "TCP").upper()
    port = _int_or_str(raw.get("port"))
    end = raw.get("endPort")
    end_port = int(end) if end is not None and isinstance(port, int) else None
    return PortSpec(proto, port, end_port)


def parse_peer(raw: Mapping[str, Any]) -> Peer:
    block = raw.get("ipBlock")
    if block:
        try:
            cidr = ipaddress.ip_network(str(block.get("cidr", "")), strict=False)
            excepts = tuple(ipaddress.ip_network(str(e), strict=False)
                            for e in block.get("except") or [])
        except ValueError:
            return Peer(valid=False)
        return Peer(ip_block=IPBlock(cidr, excepts))
    pod_sel, ns_sel = raw.get("podSelector"), raw.get("namespaceSelector")
    if pod_sel is None and ns_sel is None:
        return Peer(valid=False)
    return Peer(
        pod_selector=from_label_selector(pod_sel) if pod_sel is not None else None,
        namespace_selector=from_label_selector(ns_sel) if ns_sel is not None else None,
    )


def parse_rule(raw: Mapping[str, Any] | None, peers_field: str) -> Rule:
    raw = raw or {}
    peers = tuple(parse_peer(p or {}) for p in raw.get(peers_field) or [])
    ports = tuple(parse_port(p or {}) for p in raw.get("ports") or [])
    return Rule(peers, ports)


def parse_policy(obj: Obj) -> Policy:
    """Normalise one NetworkPolicy dict (see the module docstring for the defaults)."""
    spec = obj.get("spec") or {}
    raw_sel = spec.get("podSelector")
    selector = from_label_selector(raw_sel) if raw_sel is not None else EVERYTHING
    ingress = tuple(parse_rule(r, "from") for r in spec.get("ingress") or [])
    egress = tuple(parse_rule(r, "to") for r in spec.get("egress") or [])
    types = spec.get("policyTypes")
    if types:
        names = {str(t).capitalize() for t in types}
        is_in, is_eg = "Ingress" in names, "Egress" in names
    else:
        is_in, is_eg = True, bool(egress)
    return Policy(
        namespace=namespace_of(obj) or "default",
        name=name_of(obj),
        pod_selector=selector,
        ingress=ingress if is_in else (),
        egress=egress if is_eg else (),
        isolates_ingress=is_in,
        isolates_egress=is_eg,
    )


def container_ports(pod: Obj) -> tuple[ContainerPort, ...]:
    spec = pod.get("spec") or {}
    out: list[ContainerPort] = []
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for p in c.get("ports") or []:
            if p.get("containerPort") is None:
                continue
            out.append(ContainerPort(int(p["containerPort"]),
                                     str(p.get("protocol") or "TCP").upper(),
                                     str(p.get("name") or "")))
    return tuple(out)


def pod_info(pod: Obj) -> PodInfo:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    return PodInfo(
        namespace=namespace_of(pod) or "default",
        name=name_of(pod),
        labels=labels_of(pod),
        ip=str(status.get("podIP") or ""),
        node=str(spec.get("nodeName") or ""),
        host_ip=str(status.get("hostIP") or ""),
        host_network=bool(spec.get("hostNetwork")),
        ports=container_ports(pod),
    )


def is_live(pod: Obj) -> bool:
    """Pods that finished (Succeeded/Failed) have no network and are left out."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def namespace_labels(namespaces: Iterable[Obj], extra_names: Iterable[str] = ()) -> dict[str, dict[str, str]]:
    """Labels per namespace name, each with the implicit ``kubernetes.io/metadata.name``.

    Namespaces only referenced (by a pod or a policy) get just the implicit label.
    """
    out: dict[str, dict[str, str]] = {}
    for ns in namespaces:
        name = name_of(ns)
        out[name] = {**labels_of(ns), NAMESPACE_NAME_LABEL: name}
    for name in extra_names:
        out.setdefault(name, {NAMESPACE_NAME_LABEL: name})
    return out
