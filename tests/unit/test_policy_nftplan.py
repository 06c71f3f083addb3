"""The gatekeeper's compiler, without a kernel: compile every node's table, then run the
rules on packets with a small interpreter of the nft subset the compiler writes.

The packet for (src pod, dst pod, port, protocol) crosses the forward hook of the
source's node and, when the destination lives elsewhere, of the destination's node
(a new connection: ``ct state established,related`` never matches). It passes
when no table drops it. That must equal the offline truth table, cell by cell,
on the upstream scenarios and on random worlds. The diff tests check that pod,
label and namespace-label changes are element updates only.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

import pytest
from policy_world import World, policy
from test_policy_reference import world

from podnet.policy import nftstate
from podnet.policy.analyze import analyze
from podnet.policy.model import IPBlock, PortSpec
from podnet.policy.nftplan import block_ranges, compile_node, interval_elements, port_elements
from podnet.policy.resolve import resolve

FIELDS = r"(?:ip saddr|ip daddr|meta l4proto|th dport)"
MATCH = re.compile(rf"({FIELDS}(?: \. {FIELDS})*) (@\S+|\{{[^}}]*\}})")


def _component(text: str, value: int) -> bool:
    text = text.strip()
    if "/" in text:
        return ipaddress.ip_address(value) in ipaddress.ip_network(text)
    lo, _, hi = text.partition("-")

    def num(t: str) -> int:
        return int(t) if t.isdigit() else int(ipaddress.ip_address(t))

    return num(lo) <= value <= num(hi or lo)


def _in(elements: Any, values: list[int]) -> bool:
    for el in elements:
        parts = el.split(" . ")
        if len(parts) == len(values) and all(_component(p, v) for p, v in zip(parts, values, strict=True)):
            return True
    return False


def run_chain(table: nftstate.PolicyTable, chain: str, pkt: dict[str, int]) -> str:
    """The verdict of ``chain`` for a new packet: accept, drop or return (fell through)."""
    rules = next((b.rules for b in table.base_chains if b.name == chain), None)
    if rules is None:
        rules = table.chains[chain]
    for rule in rules:
        rule = re.sub(r' comment "[^"]*"', "", rule).replace("counter ", "")
        if rule.startswith("ct state"):
            continue
        matched, pos = True, 0
        for m in MATCH.finditer(rule):
            pos = m.end()
            values = [pkt[f.strip()] for f in m.group(1).split(" . ")]
            target = m.group(2)
            elems = (table.sets[target[1:]].elements if target.startswith("@")
                     else [e.strip() for e in target[1:-1].split(",")])
            if not _in(elems, values):
                matched = False
                break
        if not matched:
            continue
        verdict = rule[pos:].split()
        if verdict[0] == "jump":
            v = run_chain(table, verdict[1], pkt)
            if v != "return":
                return v
            continue
        return verdict[0]
    return "return" if chain not in ("forward", "input") else "accept"


PROTO = {"TCP": 6, "UDP": 17, "SCTP": 132}


def live_verdicts(pods: list[Any], namespaces: list[Any], policies: list[Any],
                  keys: list[tuple[int, str]]) -> dict[tuple[str, str, int, str], bool]:
    r = resolve(pods, namespaces, policies)
    nodes = sorted({p.node for p in r.pods})
    tables = {n: compile_node(r, n) for n in nodes}
    out = {}
    for s in r.pods:
        for d in r.pods:
            for port, proto in keys:
                pkt = {"ip saddr": int(ipaddress.ip_address(s.ip)), "ip daddr": int(ipaddress.ip_address(d.ip)),
                       "meta l4proto": PROTO[proto], "th dport": port}
                hops = [s.node] if s.node == d.node else [s.node, d.node]
                out[(s.key, d.key, port, proto)] = all(
                    run_chain(tables[n], "forward", pkt) == "accept" for n in hops)
    return out


def assert_same(pods: list[Any], namespaces: list[Any], policies: list[Any],
                keys: list[tuple[int, str]]) -> None:
    a = analyze(pods, namespaces, policies, ports=sorted({k[0] for k in keys}),
                protocols=sorted({k[1] for k in keys}))
    live = live_verdicts(pods, namespaces, policies, keys)
    bad = [(k, v) for k, v in live.items() if a.table.allowed(k[0], k[1], k[2], k[3]) != v]
    assert not bad, bad[:5]


@pytest.mark.parametrize("seed", range(25))
def test_random_worlds_kernel_rules_equal_truth_table(seed: int) -> None:
    pods, namespaces, policies = world(seed)
    for i, p in enumerate(pods):
        p["spec"]["nodeName"] = f"node-{i % 3 + 1}"
    assert_same(pods, namespaces, policies, [(80, "TCP"), (81, "UDP"), (443, "UDP"), (100, "TCP")])


SCENARIOS: list[list[dict[str, Any]]] = [
    [policy("x", "deny", {"podSelector": {}})],
    [policy("x", "deny-eg", {"podSelector": {}, "policyTypes": ["Egress"]})],
    [policy("x", "named", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [
        {"ports": [{"port": "serve-81-udp", "protocol": "UDP"}, {"port": "serve-80-tcp"}]}]})],
    [policy("x", "named-eg", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
         "ports": [{"port": "serve-81-tcp"}]}]})],
    [policy("x", "endport", {"podSelector": {}, "ingress": [
        {"ports": [{"port": 79, "endPort": 80, "protocol": "UDP"}, {"protocol": "TCP", "port": 81}]}]})],
    [policy("x", "ipblock", {"podSelector": {}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24"]}}]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.244.3.11/32"}}]}]})],
    [policy("y", "and", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["y"]}]},
         "podSelector": {"matchLabels": {"pod": "b"}}}]}]}),
     policy("y", "proto-only", {"podSelector": {"matchLabels": {"pod": "c"}},
                                "ingress": [{"ports": [{"protocol": "UDP"}]}]})],
]


@pytest.mark.parametrize("index", range(len(SCENARIOS)))
def test_upstream_scenarios_kernel_rules_equal_truth_table(index: int) -> None:
    w = World().apply(*SCENARIOS[index])
    assert_same(list(w.pods.values()), list(w.namespaces.values()), list(w.policies.values()),
                [(80, "TCP"), (80, "UDP"), (81, "TCP"), (81, "UDP")])


def _tables(w: World, node: str = "node-1") -> nftstate.PolicyTable:
    return compile_node(resolve(list(w.pods.values()), list(w.namespaces.values()),
                                list(w.policies.values())), node)


def test_pod_and_namespace_label_changes_are_element_updates() -> None:
    w = World().apply(policy("x", "from-y", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}, "podSelector": {
            "matchLabels": {"pod": "a"}}}], "ports": [{"port": "serve-80-tcp"}]}]}))
    before = _tables(w)
    for change in (lambda v: v.label_pod("y", "b", {"pod": "a"}), lambda v: v.label_ns("z", {"ns": "y"}),
                   lambda v: v.label_pod("x", "c", {"pod": "c", "extra": "1"})):
        after_world = copy.deepcopy(w)
        change(after_world)
        delta = nftstate.changes(before, _tables(after_world))
        assert delta is not None
        assert delta.chains_rewritten == 0 and delta.sets_added == 0 and delta.sets_deleted == 0
        lines = delta.script.splitlines()
        assert all(ln.startswith(("add element", "delete element")) for ln in lines), lines
    relabel = copy.deepcopy(w).label_pod("y", "b", {"pod": "a"})
    delta = nftstate.changes(before, _tables(relabel))
    assert delta is not None and delta.elements_added == 1 and delta.elements_deleted == 1


def test_new_policy_adds_sets_and_rewrites_one_chain_and_deletion_restores() -> None:
    w = World()
    empty = _tables(w)
    assert empty.element_count == 0
    w.apply(policy("x", "deny", {"podSelector": {"matchLabels": {"pod": "a"}}}))
    denied = _tables(w, "node-1")  # x/a lives on node-1 in policy_world
    delta = nftstate.changes(empty, denied)
    assert delta is not None and delta.chains_rewritten == 0  # deny-all has no rules
    assert "add element inet podnet-policy ingress-isolated { 10.244.1.10 }" in delta.script
    w.apply(policy("x", "allow", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [{}]}))
    delta = nftstate.changes(denied, _tables(w))
    assert delta is not None and delta.chains_rewritten == 1 and delta.sets_added == 1
    w.delete("x", "deny").delete("x", "allow")
    back = nftstate.changes(_tables(w), empty)
    assert back is not None and back.script == ""
    full = nftstate.full(denied)
    assert full.startswith("add table inet podnet-policy\ndelete table inet podnet-policy\n")


def test_rules_are_rendered_for_every_port_form() -> None:
    w = World().apply(policy("x", "ports", {"podSelector": {}, "ingress": [{"ports": [
        {"port": 80}, {"protocol": "UDP", "port": 81, "endPort": 90}, {"protocol": "SCTP"},
        {"port": 90, "endPort": 85}, {"port": "serve-80-udp", "protocol": "TCP"}]}]}))
    t = _tables(w)
    rule = next(r for r in t.chains["ingress"] if "th dport {" in r)
    assert "{ 6 . 80, 17 . 81-90, 132 . 0-65535 }" in rule  # endPort < port is dropped
    named = [s for name, s in t.sets.items() if name.endswith("-named")]
    assert named and all(not s.elements for s in named)  # wrong protocol: nothing


def test_port_ranges_are_merged_per_protocol() -> None:
    specs = [PortSpec("TCP"), PortSpec("TCP", 400, 500), PortSpec("UDP", 80, 90), PortSpec("UDP", 91),
             PortSpec("UDP", 85, 100), PortSpec("SCTP", 7), PortSpec("TCP", 90, 85)]
    assert port_elements(specs) == ["6 . 0-65535", "17 . 80-100", "132 . 7"]


def test_ip_block_ranges() -> None:
    block = IPBlock(ipaddress.ip_network("10.0.0.0/24"),
                    (ipaddress.ip_network("10.0.0.16/28"), ipaddress.ip_network("10.1.0.0/16")))
    assert interval_elements(block_ranges(block)) == {"10.0.0.0-10.0.0.15", "10.0.0.32-10.0.0.255"}
    assert interval_elements([(5, 5), (6, 9), (20, 20)]) == {"0.0.0.5-0.0.0.9", "0.0.0.20"}


def test_without_policies_the_table_does_not_depend_on_pods() -> None:
    """The gatekeeper skips resolving pods when no policy exists; that must not change the table."""
    from pathlib import Path

    from podnet.offline import load
    from podnet.policy import nftstate
    from podnet.policy.nftplan import compile_node
    from podnet.policy.resolve import resolve

    s = load([str(Path(__file__).resolve().parents[2] / "examples" / "app")])
    with_pods = nftstate.full(compile_node(resolve(s.pods, s.namespaces, []), "node-1"))
    without = nftstate.full(compile_node(resolve([], s.namespaces, []), "node-1"))
    assert with_pods == without
