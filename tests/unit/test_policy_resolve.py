"""The resolved data a packet filter compiles from, and the manifest-path entry points."""

from __future__ import annotations

from pathlib import Path

import yaml
from policy_world import World, policy

from podnet.policy.analyze import analyze_paths, explain_paths
from podnet.policy.labelindex import members
from podnet.policy.resolve import PortRange
from podnet.policy.tablefmt import as_dict, parse_matrix


def test_rules_expose_peer_sets_and_concrete_ports_per_pod() -> None:
    w = World()
    w.pods[("x", "b")]["spec"]["containers"][0]["ports"] = [{"name": "serve-80-tcp", "containerPort": 8080}]
    w.apply(policy("x", "p", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}, "podSelector": {"matchLabels": {"pod": "c"}}},
                  {"ipBlock": {"cidr": "10.244.3.0/24", "except": ["10.244.3.10/32"]}}],
         "ports": [{"port": "serve-80-tcp"}, {"port": 9000, "endPort": 9010, "protocol": "UDP"},
                   {"protocol": "SCTP"}, {"port": "serve-81-udp", "protocol": "TCP"}]},
        {}]}))
    r = w.analyze().resolved
    names = [p.key for p in r.pods]
    assert [names[i] for i in members(r.selected[0])] == ["x/a", "x/b", "x/c"]
    first, everyone = r.ingress_rules
    assert [[names[i] for i in members(p.pods)] for p in first.peers] == [["y/c"], ["z/b", "z/c"]]
    assert everyone.any_peer and everyone.peer_pods == r.all
    xa, xb = r.index["x/a"], r.index["x/b"]
    assert r.concrete_ports(first, xa) == (
        PortRange("TCP", 80, 80), PortRange("UDP", 9000, 9010), PortRange("SCTP"))
    assert r.concrete_ports(first, xb) == (
        PortRange("TCP", 8080, 8080), PortRange("UDP", 9000, 9010), PortRange("SCTP"))
    assert r.concrete_ports(everyone, xa) is None
    assert r.isolating(xa, "ingress") == [0] and r.isolating(xa, "egress") == []


def _write_world(tmp_path: Path) -> Path:
    w = World().apply(policy("x", "deny", {"podSelector": {}}),
                      policy("x", "from-y", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [
                          {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                           "ports": [{"port": "serve-80-tcp"}]}]}))
    docs = []
    for obj in [*w.namespaces.values(), *w.pods.values(), *w.policies.values()]:
        obj.pop("status", None)  # the offline pipeline schedules pods and gives them IPs
        obj["spec"] = {k: v for k, v in (obj.get("spec") or {}).items() if k != "nodeName"}
        docs.append(obj)
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_analyze_and_explain_from_manifests(tmp_path: Path) -> None:
    path = _write_world(tmp_path)
    a = analyze_paths([str(path)], ports=[80], protocols=["TCP"])
    assert all(p.ip for p in a.resolved.pods)
    assert as_dict(a.table, (80, "TCP")) == parse_matrix("""
    x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  .   X   X   .   .   .   .   .   .
x/b  X   .   X   .   .   .   .   .   .
x/c  X   X   .   .   .   .   .   .   .
y/a  .   X   X   .   .   .   .   .   .
y/b  .   X   X   .   .   .   .   .   .
y/c  .   X   X   .   .   .   .   .   .
z/a  X   X   X   .   .   .   .   .   .
z/b  X   X   X   .   .   .   .   .   .
z/c  X   X   X   .   .   .   .   .   .
""")
    [v] = explain_paths([str(path)], "y/c", "x/a:80")
    assert v.allowed and v.ingress is not None and v.ingress.matches[0].policy == "x/from-y"
    assert [x.allowed for x in explain_paths([str(path)], "z/c", "x/a")] == [False, False, False, False]
