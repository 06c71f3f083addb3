"""Verdicts with reasons, ``explain`` text, special sources, and the table's output formats."""

from __future__ import annotations

import copy
import json

import pytest
from policy_world import World, policy

from podnet.policy.analyze import parse_ports, parse_protocols
from podnet.policy.explain import explain, format_verdicts, parse_target
from podnet.policy.semantics import verdict
from podnet.policy.tablefmt import parse_matrix, to_json, to_matrices

SEL_A = {"matchLabels": {"pod": "a"}}


def deny_world() -> World:
    return World().apply(
        policy("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        policy("x", "web", {"podSelector": SEL_A, "ingress": [
            {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}], "ports": [{"port": "serve-80-tcp"}]},
            {"from": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}}]}]}),
    )


def test_allowed_verdict_names_policy_rule_peer_and_port() -> None:
    r = deny_world().analyze().resolved
    v = verdict(r, "y/b", "x/a", 80, "tcp")
    assert v.allowed and v.protocol == "TCP"
    assert v.egress is not None and v.egress.allowed and not v.egress.isolated_by
    assert v.ingress is not None and v.ingress.isolated_by == ("x/deny", "x/web")
    [m] = v.ingress.matches
    assert (m.policy, m.direction, m.rule) == ("x/web", "ingress", 0)
    assert m.peer == "namespaceSelector {ns=y}"
    assert "serve-80-tcp" in m.port and "80/TCP" in m.port


def test_denied_verdict_says_which_direction_and_who_isolates() -> None:
    r = deny_world().analyze().resolved
    v = verdict(r, "x/b", "y/a", 80)
    assert not v.allowed
    assert v.egress is not None and not v.egress.allowed and v.egress.isolated_by == ("x/deny",)
    assert v.ingress is not None and v.ingress.allowed
    assert "egress" in v.reason and "ingress" not in v.reason
    v2 = verdict(r, "y/b", "x/a", 81)
    assert not v2.allowed and v2.ingress is not None and not v2.ingress.matches


def test_self_node_and_outside_sources() -> None:
    r = deny_world().analyze().resolved
    assert verdict(r, "x/a", "x/a", 81, "UDP").allowed
    assert verdict(r, "10.244.1.10", "x/a", 81).allowed  # x/a's own IP
    # x/a is on node-1 (172.18.0.11); node-2's address is just another outside IP
    assert "own node" in verdict(r, "172.18.0.11", "x/a", 81).reason
    assert not verdict(r, "172.18.0.12", "x/a", 81).allowed
    ext = verdict(r, "192.0.2.7", "x/a", 81, "UDP")
    assert ext.allowed and ext.ingress is not None
    assert ext.ingress.matches[0].peer == "ipBlock 192.0.2.0/24 except 192.0.2.128/25"
    assert not verdict(r, "192.0.2.200", "x/a", 81).allowed
    # a pod IP given as source is that pod
    assert verdict(r, "10.244.2.11", "x/a", 80).src == "y/b"


def test_host_network_pod_is_node_traffic() -> None:
    w = deny_world()
    hn = copy.deepcopy(w.pods[("y", "a")])
    hn["metadata"].update(name="hostpod", labels={"pod": "a"})
    hn["spec"].update(hostNetwork=True, nodeName="node-1")
    hn["status"].update(podIP="172.18.0.11", hostIP="172.18.0.11")
    w.pods[("y", "hostpod")] = hn
    a = w.analyze()
    # x/a and x/c run on node-1, x/b on node-2 (see policy_world.node_of)
    for dst in ("x/a", "x/c"):
        assert a.table.allowed("y/hostpod", dst, 81)
        assert "own node" in verdict(a.resolved, "y/hostpod", dst, 81).reason
    assert not a.table.allowed("y/hostpod", "x/b", 81)
    assert not verdict(a.resolved, "y/hostpod", "x/b", 81).allowed
    # selectors never match a hostNetwork pod: y/a is admitted to x/a:80, y/hostpod is not
    assert a.table.allowed("y/a", "x/a", 80)
    assert a.table.allowed("y/hostpod", "x/a", 80)  # same node
    assert not a.table.allowed("y/hostpod", "x/b", 80)
    # hostNetwork pods are never isolated (a policy in y selecting everything)
    w.apply(policy("y", "deny", {"podSelector": {}}))
    b = w.analyze()
    assert b.table.allowed("z/a", "y/hostpod", 80)
    assert not b.table.allowed("z/a", "y/a", 80)
    assert not b.table.allowed("x/a", "y/hostpod", 80)  # x/a's own egress is denied


def test_explain_every_declared_port_and_text() -> None:
    r = deny_world().analyze().resolved
    vs = explain(r, "y/b", "x/a")
    assert [(v.port, v.protocol, v.allowed) for v in vs] == [
        (80, "TCP", True), (80, "UDP", False), (81, "TCP", False), (81, "UDP", False)]
    text = format_verdicts(explain(r, "y/b", "x/a:80"))
    assert text.splitlines()[0].startswith("y/b -> x/a 80/TCP: ALLOWED")
    assert "allowed by x/web ingress rule 1: peer namespaceSelector {ns=y}" in text
    denied = format_verdicts(explain(r, "x/b", "x/c:81/udp"))
    assert "DENIED" in denied and "isolated by x/deny" in denied
    assert "no egress rule of x/deny admits it" in denied


def test_parse_errors() -> None:
    assert parse_target("x/a:81/udp") == ("x/a", 81, "UDP")
    assert parse_target("x/a") == ("x/a", None, "TCP")
    for bad in ("x/a:http", "x/a:0", "x/a:80/icmp"):
        with pytest.raises(ValueError):
            parse_target(bad)
    r = deny_world().analyze().resolved
    with pytest.raises(ValueError, match="unknown pod"):
        verdict(r, "x/nope", "x/a", 80)
    with pytest.raises(ValueError, match="not a known pod"):
        verdict(r, "x/a", "192.0.2.1", 80)
    assert parse_ports("80,81,8000-8002") == [80, 81, 8000, 8001, 8002]
    assert parse_ports(None) is None
    with pytest.raises(ValueError):
        parse_ports("80-")
    assert parse_protocols("tcp, udp") == ["TCP", "UDP"]
    with pytest.raises(ValueError):
        parse_protocols("ICMP")


def test_json_and_matrix_output() -> None:
    a = World().apply(policy("x", "deny", {"podSelector": {}})).analyze(ports=[80], protocols=["TCP"])
    doc = json.loads(to_json(a.table))
    assert len(doc["entries"]) == 81
    assert doc["entries"][0] == {"from": "x/a", "to": "x/a", "port": 80, "protocol": "TCP", "allowed": True}
    assert {"from": "y/a", "to": "x/b", "port": 80, "protocol": "TCP", "allowed": False} in doc["entries"]
    text = to_matrices(a.table)
    head, body = text.split("\n", 1)
    assert head == "80/TCP"
    cells = parse_matrix(body)
    assert cells[("y/a", "x/b")] is False and cells[("x/a", "x/a")] is True
    assert cells[("x/a", "y/b")] is True and len(cells) == 81


def test_default_ports_are_the_declared_container_ports() -> None:
    w = World()
    w.pods[("x", "a")]["spec"]["containers"][0]["ports"].append({"containerPort": 53, "protocol": "SCTP"})
    a = w.analyze(ports=None, protocols=None)
    assert a.table.keys == [(53, "SCTP"), (80, "TCP"), (80, "UDP"), (81, "TCP"), (81, "UDP")]
    b = w.analyze(ports=[8080], protocols=None)
    assert b.table.keys == [(8080, "SCTP"), (8080, "TCP"), (8080, "UDP")]
