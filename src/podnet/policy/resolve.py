"""Policies resolved against a set of pods: the data every consumer compiles from.

``Resolved`` numbers the pods (bit i is ``pods[i]``) and answers, as bitsets:

- ``selected[p]``: the pods policy p selects (hostNetwork pods are never selected:
  their traffic is the node's);
- for every rule (``ResolvedRule``, flat per direction): each peer's pod set
  (selectors via ``LabelIndex``; ipBlocks by pod IP, since policies see traffic
  after service DNAT), their union, and ``any_peer`` for rules without peers
  (which also admit every outside IP);
- ``port_pods(rule, port, protocol)``: the destination pods for which the
  rule's ports admit that port - all or none for numeric ports and ranges,
  per pod for named ports (resolved against that pod's own containers, the
  protocol must match).

The verdict code (semantics.py), the truth table (table.py) and the later
nftables gatekeeper all read these, so they cannot disagree about who a
selector or a named port means.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from podnet.api.kinds import Obj, name_of
from podnet.policy.labelindex import LabelIndex
from podnet.policy.model import (
    IPBlock,
    Peer,
    PodInfo,
    Policy,
    PortSpec,
    Rule,
    is_live,
    namespace_labels,
    parse_policy,
    pod_info,
)


@dataclass(frozen=True)
class PortRange:
    """A concrete port range for one destination pod; ``first`` None is every port."""

    protocol: str
    first: int | None = None
    last: int | None = None


@dataclass(frozen=True)
class ResolvedPeer:
    peer: Peer
    pods: int


@dataclass(frozen=True)
class ResolvedRule:
    """One rule of one policy, with its peers resolved to pod bitsets."""

    policy: int
    direction: str  # "ingress" | "egress"
    index: int
    rule: Rule
    peers: tuple[ResolvedPeer, ...]
    peer_pods: int
    any_peer: bool

    @property
    def any_port(self) -> bool:
        return not self.rule.ports


@dataclass
class Resolved:
    """Pods, namespaces and policies, cross-referenced as bitsets (see module doc)."""

    pods: list[PodInfo]
    namespaces: dict[str, dict[str, str]]
    policies: list[Policy]
    node_ips: dict[str, set[str]] = field(default_factory=dict)
    ip_blocks_match_pods: bool = True
    index: dict[str, int] = field(init=False)
    by_ip: dict[str, int] = field(init=False)
    all: int = field(init=False)
    selectable: int = field(init=False)
    selected: list[int] = field(init=False)
    ingress_rules: list[ResolvedRule] = field(init=False)
    egress_rules: list[ResolvedRule] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.pods)
        self.all = (1 << n) - 1
        self.index = {p.key: i for i, p in enumerate(self.pods)}
        self.by_ip = {}
        for i, p in enumerate(self.pods):
            if p.ip and not p.host_network:
                self.by_ip.setdefault(p.ip, i)
        self.selectable = 0
        self._in_ns: dict[str, int] = {}
        self._named: dict[tuple[str, str, int], int] = {}
        self._named_any: dict[tuple[str, str], int] = {}
        self._ip_ints: list[tuple[int, int] | None] = []
        for i, p in enumerate(self.pods):
            bit = 1 << i
            if not p.host_network:
                self.selectable |= bit
                self._in_ns[p.namespace] = self._in_ns.get(p.namespace, 0) | bit
            for cp in p.ports:
                if cp.name:
                    k = (cp.name, cp.protocol, cp.port)
                    self._named[k] = self._named.get(k, 0) | bit
                    k2 = (cp.name, cp.protocol)
                    self._named_any[k2] = self._named_any.get(k2, 0) | bit
            try:
                addr = ipaddress.ip_address(p.ip) if p.ip else None
            except ValueError:
                addr = None
            self._ip_ints.append((addr.version, int(addr)) if addr else None)
        self._pod_labels = LabelIndex([p.labels for p in self.pods], self.selectable)
        self._ns_names = sorted(self.namespaces)
        self._ns_labels = LabelIndex([self.namespaces[n] for n in self._ns_names])
        self._blocks: dict[IPBlock, int] = {}
        self.selected = [self._pod_labels.match(pol.pod_selector) & self._in_ns.get(pol.namespace, 0)
                         for pol in self.policies]
        self.ingress_rules = self._rules("ingress")
        self.egress_rules = self._rules("egress")

    # -- peers -------------------------------------------------------------

    def namespace_pods(self, namespace: str) -> int:
        return self._in_ns.get(namespace, 0)

    def ip_block_pods(self, block: IPBlock) -> int:
        """Pods whose IP is in the block and in none of its excepts."""
        if not self.ip_blocks_match_pods:
            return 0
        hit = self._blocks.get(block)
        if hit is None:
            ranges = [(n.version, int(n.network_address), int(n.broadcast_address))
                      for n in (block.cidr, *block.excepts)]
            (ver, lo, hi), excepts = ranges[0], ranges[1:]
            hit = 0
            for i, ip in enumerate(self._ip_ints):
                if ip is None or ip[0] != ver or not lo <= ip[1] <= hi:
                    continue
                if not any(ip[0] == ev and el <= ip[1] <= eh for ev, el, eh in excepts):
                    hit |= 1 << i
            self._blocks[block] = hit
        return hit

    def peer_pods(self, peer: Peer, policy_namespace: str) -> int:
        """The pods a peer admits, for a policy in ``policy_namespace``."""
        if peer.ip_block is not None:
            return self.ip_block_pods(peer.ip_block)
        if not peer.valid:
            return 0
        if peer.namespace_selector is None:
            scope = self.namespace_pods(policy_namespace)
        else:
            scope = 0
            ns_hit = self._ns_labels.match(peer.namespace_selector)
            for j, name in enumerate(self._ns_names):
                if ns_hit >> j & 1:
                    scope |= self.namespace_pods(name)
        if peer.pod_selector is None:
            return scope
        return scope & self._pod_labels.match(peer.pod_selector)

    def _rules(self, direction: str) -> list[ResolvedRule]:
        out: list[ResolvedRule] = []
        for pi, pol in enumerate(self.policies):
            for ri, rule in enumerate(pol.ingress if direction == "ingress" else pol.egress):
                peers = tuple(ResolvedPeer(p, self.peer_pods(p, pol.namespace)) for p in rule.peers)
                union = 0
                for rp in peers:
                    union |= rp.pods
                any_peer = not rule.peers
                out.append(ResolvedRule(pi, direction, ri, rule, peers,
                                        self.all if any_peer else union, any_peer))
        return out

    # -- ports -------------------------------------------------------------

    def port_spec_pods(self, spec: PortSpec, port: int, protocol: str) -> int:
        """Destination pods for which one ports entry admits ``port/protocol``."""
        if isinstance(spec.port, str):
            if spec.protocol != protocol:
                return 0
            return self._named.get((spec.port, protocol, port), 0)
        return self.all if spec.matches_number(port, protocol) else 0

    def named_port_pods(self, name: str, protocol: str) -> int:
        """Pods defining the named port ``name`` for ``protocol`` (any number)."""
        return self._named_any.get((name, protocol), 0)

    def port_pods(self, rule: ResolvedRule, port: int, protocol: str) -> int:
        """Destination pods for which the rule's ports admit ``port/protocol``."""
        if not rule.rule.ports:
            return self.all
        hit = 0
        for spec in rule.rule.ports:
            hit |= self.port_spec_pods(spec, port, protocol)
            if hit == self.all:
                break
        return hit

    def concrete_ports(self, rule: ResolvedRule, dst: int) -> tuple[PortRange, ...] | None:
        """The rule's ports as numbers for destination pod ``dst`` (named ports resolved
        against its containers; unresolvable ones dropped). None: every port and protocol.
        What a per-pod packet filter (the gatekeeper) compiles."""
        if not rule.rule.ports:
            return None
        out: list[PortRange] = []
        for spec in rule.rule.ports:
            if isinstance(spec.port, str):
                number = self.pods[dst].named_port(spec.port, spec.protocol)
                if number is not None:
                    out.append(PortRange(spec.protocol, number, number))
            elif spec.port is None:
                out.append(PortRange(spec.protocol))
            elif (spec.end_port or spec.port) >= spec.port:
                out.append(PortRange(spec.protocol, spec.port, spec.end_port or spec.port))
        return tuple(out)

    # -- misc --------------------------------------------------------------

    def isolating(self, pod: int, direction: str) -> list[int]:
        """Indexes of the policies that isolate ``pods[pod]`` for ``direction``."""
        bit = 1 << pod
        attr = "isolates_ingress" if direction == "ingress" else "isolates_egress"
        return [i for i, pol in enumerate(self.policies)
                if getattr(pol, attr) and self.selected[i] & bit]

    def node_addresses(self, node: str) -> set[str]:
        return self.node_ips.get(node, set())


def node_addresses(nodes: Iterable[Obj], pods: Iterable[PodInfo]) -> dict[str, set[str]]:
    """Every known IP of every node: Node status addresses and pods' hostIP."""
    out: dict[str, set[str]] = {}
    for node in nodes:
        for addr in (node.get("status") or {}).get("addresses") or []:
            if addr.get("type") in ("InternalIP", "ExternalIP") and addr.get("address"):
                out.setdefault(name_of(node), set()).add(str(addr["address"]))
    for p in pods:
        if p.node and p.host_ip:
            out.setdefault(p.node, set()).add(p.host_ip)
    return out


def resolve(
    pods: Sequence[Obj],
    namespaces: Sequence[Obj] = (),
    policies: Sequence[Obj] = (),
    nodes: Sequence[Obj] = (),
    ip_blocks_match_pods: bool = True,
) -> Resolved:
    """Build a ``Resolved`` from plain Kubernetes dicts (finished pods left out).

    ``ip_blocks_match_pods=False`` makes ipBlocks match outside addresses only, as
    some analyzers (NCA) do; podnet's default follows the upstream e2e suite."""
    infos = sorted((pod_info(p) for p in pods if is_live(p)), key=lambda p: (p.namespace, p.name))
    parsed = sorted((parse_policy(p) for p in policies), key=lambda p: (p.namespace, p.name))
    ns = namespace_labels(namespaces, [p.namespace for p in infos] + [p.namespace for p in parsed])
    return Resolved(infos, ns, parsed, node_addresses(nodes, infos), ip_blocks_match_pods)
