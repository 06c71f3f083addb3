"""One question, one answer with reasons: may SRC open a connection to DST:PORT/PROTO?

The rules, in the order they are applied:

1. A pod may always reach itself (its own IP).
2. Traffic from the destination pod's own node (a node address, or a
   hostNetwork pod on that node) is always allowed (kubelet probes).
3. Otherwise both directions must allow it:
   - egress of the source: if no policy isolates the source pod for egress, it
     is allowed; else some egress rule of an isolating policy must admit the
     destination pod (selector peer, or ipBlock holding its IP) on that port
     (named ports resolved against the destination pod);
   - ingress of the destination: likewise with ingress rules and the source
     (a pod, or an outside IP that only ipBlocks and peer-less rules admit).

Only the opening of a connection is asked about: replies of an allowed
connection are always allowed, so they never need a question of their own.
Policies are unioned: any one matching rule of any isolating policy allows.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from podnet.policy.model import PodInfo, PortSpec
from podnet.policy.resolve import Resolved, ResolvedRule


@dataclass(frozen=True)
class Match:
    """A rule that admitted the connection: which policy, rule, peer and port."""

    policy: str
    direction: str
    rule: int
    peer: str
    port: str


@dataclass(frozen=True)
class DirectionVerdict:
    """The answer for one direction (ingress of the destination, egress of the source)."""

    direction: str
    allowed: bool
    isolated_by: tuple[str, ...] = ()
    matches: tuple[Match, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    src: str
    dst: str
    port: int
    protocol: str
    allowed: bool
    reason: str
    egress: DirectionVerdict | None = None
    ingress: DirectionVerdict | None = None


@dataclass(frozen=True)
class Endpoint:
    """A resolved source or destination: a pod (``index``) or a bare IP."""

    label: str
    index: int | None
    ip: str


def endpoint(resolved: Resolved, text: str) -> Endpoint:
    """``ns/pod``, a bare pod name in ``default``, a pod IP or any other IP."""
    name = text if "/" in text else f"default/{text}"
    if name in resolved.index:
        i = resolved.index[name]
        return Endpoint(name, i, resolved.pods[i].ip)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"unknown pod {name!r} (and not an IP address)") from None
    i2 = resolved.by_ip.get(text)
    if i2 is not None:
        return Endpoint(resolved.pods[i2].key, i2, text)
    return Endpoint(text, None, text)


def _port_text(spec: PortSpec, dst: PodInfo, port: int) -> str:
    if spec.named:
        return f"named port {spec.port} ({port}/{spec.protocol} on {dst.key})"
    return str(spec)


def _rule_match(resolved: Resolved, rule: ResolvedRule, peer_bit: int, peer_ip: str | None,
                 dst: int, port: int, protocol: str) -> Match | None:
    """The first (peer, port) of ``rule`` admitting the connection, or None."""
    if rule.any_peer:
        peer_text = "every peer (no from/to)"
    else:
        peer_text = ""
        for rp in rule.peers:
            hit = bool(rp.pods & peer_bit) if peer_bit else (
                rp.peer.ip_block is not None and peer_ip is not None
                and rp.peer.ip_block.contains(peer_ip))
            if hit:
                peer_text = str(rp.peer)
                break
        if not peer_text:
            return None
    dst_bit = 1 << dst
    if not rule.rule.ports:
        port_text = "every port (no ports)"
    else:
        port_text = ""
        for spec in rule.rule.ports:
            if resolved.port_spec_pods(spec, port, protocol) & dst_bit:
                port_text = _port_text(spec, resolved.pods[dst], port)
                break
        if not port_text:
            return None
    pol = resolved.policies[rule.policy]
    return Match(pol.key, rule.direction, rule.index, peer_text, port_text)


def _direction(resolved: Resolved, direction: str, subject: int, peer_bit: int,
               peer_ip: str | None, dst: int, port: int, protocol: str) -> DirectionVerdict:
    pod = resolved.pods[subject]
    isolating = resolved.isolating(subject, direction)
    if not isolating:
        why = "hostNetwork pods are never isolated" if pod.host_network else \
            f"no policy selects {pod.key} for {direction}"
        return DirectionVerdict(direction, True, note=why)
    names = tuple(resolved.policies[i].key for i in isolating)
    wanted = set(isolating)
    rules = resolved.ingress_rules if direction == "ingress" else resolved.egress_rules
    found = []
    for rule in rules:
        if rule.policy in wanted:
            m = _rule_match(resolved, rule, peer_bit, peer_ip, dst, port, protocol)
            if m is not None:
                found.append(m)
    note = "" if found else f"no {direction} rule of {', '.join(names)} admits it"
    return DirectionVerdict(direction, bool(found), names, tuple(found), note)


def verdict(resolved: Resolved, src: str, dst: str, port: int, protocol: str = "TCP") -> Verdict:
    """May ``src`` (pod or IP) open a connection to pod ``dst`` on ``port/protocol``?"""
    protocol = protocol.upper()
    s, d = endpoint(resolved, src), endpoint(resolved, dst)
    if d.index is None:
        raise ValueError(f"destination {dst!r} is not a known pod")
    dpod = resolved.pods[d.index]

    def done(allowed: bool, reason: str, eg: DirectionVerdict | None = None,
             ing: DirectionVerdict | None = None) -> Verdict:
        return Verdict(s.label, d.label, port, protocol, allowed, reason, eg, ing)

    if s.index == d.index or (s.ip and s.ip == dpod.ip):
        return done(True, "a pod may always connect to itself")
    spod = resolved.pods[s.index] if s.index is not None else None
    node_ips = resolved.node_addresses(dpod.node)
    if (s.index is None and s.ip in node_ips) or (
            spod is not None and spod.host_network and dpod.node and spod.node == dpod.node):
        return done(True, f"traffic from the pod's own node ({dpod.node}) is always allowed")
    if s.index is not None:
        # for egress of the source, the peer to match is the destination pod
        eg = _direction(resolved, "egress", s.index, 1 << d.index, None, d.index, port, protocol)
        peer_bit, peer_ip = 1 << s.index, None
    else:
        eg = DirectionVerdict("egress", True, note=f"{s.label} is not a pod: no egress policy")
        peer_bit, peer_ip = 0, s.ip
    ing = _direction(resolved, "ingress", d.index, peer_bit, peer_ip, d.index, port, protocol)
    allowed = eg.allowed and ing.allowed
    if allowed:
        reason = "allowed by egress of the source and ingress of the destination"
    else:
        denied = [v.direction for v in (eg, ing) if not v.allowed]
        reason = "denied: no rule allows " + " and ".join(denied)
    return done(allowed, reason, eg, ing)

