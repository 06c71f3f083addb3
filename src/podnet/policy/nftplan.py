"""Compile resolved policies into one node's nftables table (pure: no kernel, no root).

Input: a ``Resolved`` (policies, pods, namespaces as bitsets, see resolve.py)
and a node name. Output: a ``PolicyTable`` (nftstate.py). Only the pods of this
node are enforced here - ingress on the destination's node, egress on the
source's node - so only policies selecting a local pod are compiled.

Layout (``inet podnet-policy``)::

    chain forward  (hook forward, priority filter)      chain input (hook input, priority filter)
        ct state established,related accept                ct state established,related accept
        ip saddr . ip daddr @self accept                    ip saddr @egress-isolated jump egress
        ip saddr @egress-isolated jump egress
        ip daddr @ingress-isolated jump ingress
    chain egress:  one rule per (egress rule, port form) ... return;   counter drop
    chain ingress: one rule per (ingress rule, port form) ... accept;  counter drop

Per rule of a policy (``P`` = ``p<hash of ns/name>``, ``R`` = rule index):

* ``P-iR-dst`` / ``P-eR-src``: the local pods the policy selects;
* ``P-iR-peers`` / ``P-eR-peers`` (interval set): the peers - selector peers as
  pod IPs, ipBlocks as their CIDR minus the excepts (so they match pod IPs and
  outside IPs alike); absent for a rule without ``from``/``to``;
* numeric ports, ranges (``endPort``) and protocol-only ports are written in
  the rule as ``meta l4proto . th dport { 6 . 80, 17 . 0-65535 }`` (they change
  only when the policy does);
* named ports become ``P-iR-named`` / ``P-eR-named``: ``pod IP . proto . port``
  resolved per destination pod (ingress: the selected local pods; egress: the
  peer pods), so the protocol must match and each pod has its own number.

The rule texts depend only on the policies that concern the node, never on pod
IPs or labels: a pod, label or namespace-label change is an element update.
``self`` holds ``ip . ip`` of every isolated local pod (a pod may always reach
itself, e.g. hairpin through its Service). Node-originated traffic (kubelet-
style probes, the node's own connections) takes the output hook, which this
table does not filter: traffic from a pod's own node is always allowed.
"""

from __future__ import annotations

import hashlib
import ipaddress

from podnet.policy.labelindex import members
from podnet.policy.model import IPBlock, Policy, PortSpec
from podnet.policy.nftstate import BaseChain, NftSet, PolicyTable
from podnet.policy.resolve import Resolved, ResolvedRule

PROTO_NUMBERS = {"TCP": 6, "UDP": 17, "SCTP": 132}
ADDR = "ipv4_addr"
NAMED = "ipv4_addr . inet_proto . inet_service"

BASE_CHAINS = (
    BaseChain("forward", "type filter hook forward priority filter", (
        "ct state established,related accept",
        "ip saddr . ip daddr @self accept",
        "ip saddr @egress-isolated jump egress",
        "ip daddr @ingress-isolated jump ingress",
    )),
    BaseChain("input", "type filter hook input priority filter", (
        "ct state established,related accept",
        "ip saddr @egress-isolated jump egress",
    )),
)


def policy_id(policy: Policy) -> str:
    """A short, stable set-name prefix for a policy (``ns/name`` may hold any DNS-1123 text)."""
    return "p" + hashlib.sha1(policy.key.encode()).hexdigest()[:10]


def _v4(ip: str) -> int | None:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return int(addr) if addr.version == 4 else None


def block_ranges(block: IPBlock) -> list[tuple[int, int]]:
    """An IPv4 ipBlock as disjoint integer ranges: the CIDR minus its excepts."""
    if block.cidr.version != 4:
        return []
    out = [(int(block.cidr.network_address), int(block.cidr.broadcast_address))]
    for ex in block.excepts:
        if ex.version != 4:
            continue
        lo, hi = int(ex.network_address), int(ex.broadcast_address)
        cut: list[tuple[int, int]] = []
        for a, b in out:
            if hi < a or lo > b:
                cut.append((a, b))
                continue
            if a < lo:
                cut.append((a, lo - 1))
            if hi < b:
                cut.append((hi + 1, b))
        out = cut
    return out


def interval_elements(ranges: list[tuple[int, int]]) -> frozenset[str]:
    """Merge overlapping or adjacent ranges; nft interval sets refuse overlaps."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    text = ipaddress.IPv4Address
    return frozenset(str(text(lo)) if lo == hi else f"{text(lo)}-{text(hi)}" for lo, hi in merged)


def port_elements(specs: list[PortSpec]) -> list[str]:
    """Numeric ports, ranges and protocol-only ports as ``proto . port[-last]`` elements,
    merged per protocol (nft refuses overlapping intervals, even in an anonymous set)."""
    ranges: dict[int, list[tuple[int, int]]] = {}
    for s in specs:
        proto = PROTO_NUMBERS[s.protocol]
        if s.port is None:
            ranges.setdefault(proto, []).append((0, 65535))
        elif s.end_port is None or s.end_port >= int(s.port):  # endPort < port: nothing
            ranges.setdefault(proto, []).append((int(s.port), s.end_port or int(s.port)))
    out = []
    for proto in sorted(ranges):
        merged: list[list[int]] = []
        for lo, hi in sorted(ranges[proto]):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        out += [f"{proto} . {lo}" if lo == hi else f"{proto} . {lo}-{hi}" for lo, hi in merged]
    return out


class _Compiler:
    def __init__(self, resolved: Resolved, node: str) -> None:
        self.r = resolved
        self.ips = [_v4(p.ip) if p.ip and not p.host_network else None for p in resolved.pods]
        self.any_ips = [_v4(p.ip) if p.ip else None for p in resolved.pods]
        self.local = 0
        for i, p in enumerate(resolved.pods):
            if p.node == node and self.ips[i] is not None:
                self.local |= 1 << i
        self.sets: dict[str, NftSet] = {}
        self.ingress: list[str] = []
        self.egress: list[str] = []

    def addrs(self, bitset: int, any_pod: bool = False) -> frozenset[str]:
        ips = self.any_ips if any_pod else self.ips
        return frozenset(str(ipaddress.IPv4Address(ip)) for i in members(bitset)
                         if (ip := ips[i]) is not None)

    def add_set(self, name: str, type_: str, elements: frozenset[str], interval: bool = False) -> str:
        self.sets[name] = NftSet(name, type_, interval, elements)
        return name

    def peers(self, rule: ResolvedRule, policy: Policy) -> frozenset[str]:
        ranges: list[tuple[int, int]] = []
        for rp in rule.peers:
            if rp.peer.ip_block is not None:
                ranges += block_ranges(rp.peer.ip_block)
            else:
                ranges += [(ip, ip) for i in members(rp.pods) if (ip := self.ips[i]) is not None]
        return interval_elements(ranges)

    def named(self, specs: list[PortSpec], pods: int) -> frozenset[str]:
        out = set()
        for i in members(pods):
            ip = self.any_ips[i]
            if ip is None:
                continue
            for spec in specs:
                number = self.r.pods[i].named_port(str(spec.port), spec.protocol)
                if number is not None:
                    out.add(f"{ipaddress.IPv4Address(ip)} . {PROTO_NUMBERS[spec.protocol]} . {number}")
        return frozenset(out)

    def rule(self, pid: str, policy: Policy, rule: ResolvedRule, subjects: int) -> None:
        ingress = rule.direction == "ingress"
        base = f"{pid}-{'i' if ingress else 'e'}{rule.index}"
        own, other = ("daddr", "saddr") if ingress else ("saddr", "daddr")
        verdict = "accept" if ingress else "return"
        comment = f'comment "{policy.key} {rule.direction} rule {rule.index}"'
        subject_set = self.add_set(f"{base}-{'dst' if ingress else 'src'}", ADDR, self.addrs(subjects))
        peer_match = ""
        if not rule.any_peer:
            peer_set = self.add_set(f"{base}-peers", ADDR, self.peers(rule, policy), interval=True)
            peer_match = f" ip {other} @{peer_set}"
        out = self.ingress if ingress else self.egress
        if not rule.rule.ports:
            out.append(f"ip {own} @{subject_set}{peer_match} {verdict} {comment}")
            return
        numeric = [s for s in rule.rule.ports if not s.named and s.protocol in PROTO_NUMBERS]
        named = [s for s in rule.rule.ports if s.named and s.protocol in PROTO_NUMBERS]
        elems = port_elements(numeric)
        if elems:
            ports = ", ".join(elems)
            out.append(f"ip {own} @{subject_set}{peer_match} meta l4proto . th dport {{ {ports} }} "
                       f"{verdict} {comment}")
        if named:
            if ingress:  # resolved against the selected (local) destination pods
                named_set = self.add_set(f"{base}-named", NAMED, self.named(named, subjects), True)
                out.append(f"ip daddr . meta l4proto . th dport @{named_set}{peer_match} accept {comment}")
            else:  # resolved against the peer pods, which are the destinations
                dests = self.r.all if rule.any_peer else rule.peer_pods
                named_set = self.add_set(f"{base}-named", NAMED, self.named(named, dests), True)
                out.append(f"ip saddr @{subject_set} ip daddr . meta l4proto . th dport @{named_set} "
                           f"return {comment}")


def compile_node(resolved: Resolved, node: str) -> PolicyTable:
    """The desired ``inet podnet-policy`` table of ``node`` (see the module docstring)."""
    c = _Compiler(resolved, node)
    iso_in = iso_eg = 0
    for i, pol in enumerate(resolved.policies):
        here = resolved.selected[i] & c.local
        if not here:
            continue
        iso_in |= here if pol.isolates_ingress else 0
        iso_eg |= here if pol.isolates_egress else 0
    by_policy: dict[int, list[ResolvedRule]] = {}
    for rule in (*resolved.ingress_rules, *resolved.egress_rules):
        by_policy.setdefault(rule.policy, []).append(rule)
    for i, pol in enumerate(resolved.policies):
        here = resolved.selected[i] & c.local
        if here:
            pid = policy_id(pol)
            for rule in by_policy.get(i, ()):
                c.rule(pid, pol, rule, here)
    isolated = iso_in | iso_eg
    c.add_set("ingress-isolated", ADDR, c.addrs(iso_in))
    c.add_set("egress-isolated", ADDR, c.addrs(iso_eg))
    c.add_set("self", f"{ADDR} . {ADDR}",
              frozenset(f"{a} . {a}" for a in c.addrs(isolated)))
    chains = {
        "egress": (*c.egress, 'counter drop comment "no egress rule admits it"'),
        "ingress": (*c.ingress, 'counter drop comment "no ingress rule admits it"'),
    }
    return PolicyTable(BASE_CHAINS, dict(sorted(c.sets.items())), chains)
