"""Random worlds checked three ways: the bitset truth table, ``verdict()`` per pair,
and a naive reference written here straight from the Kubernetes docs, over raw
dicts, one pair at a time (no bitsets, no shared policy code beyond selectors).
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import pytest

from podnet.api.selectors import from_label_selector
from podnet.policy.analyze import analyze
from podnet.policy.labelindex import LabelIndex
from podnet.policy.semantics import verdict

KEYS = ["app", "tier", "env"]
VALUES = ["a", "b", "c"]
NAMES = ["http", "dns", "web"]


def _labels(rng: random.Random) -> dict[str, str]:
    return {k: rng.choice(VALUES) for k in KEYS if rng.random() < 0.6}


def _selector(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.2:
        return {}
    if roll < 0.6:
        return {"matchLabels": {rng.choice(KEYS): rng.choice(VALUES)}}
    op = rng.choice(["In", "NotIn", "Exists", "DoesNotExist"])
    expr: dict[str, Any] = {"key": rng.choice(KEYS), "operator": op}
    if op in ("In", "NotIn"):
        expr["values"] = rng.sample(VALUES, 2)
    return {"matchExpressions": [expr]}


def _peer(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.3:
        return {"podSelector": _selector(rng)}
    if roll < 0.55:
        return {"namespaceSelector": _selector(rng)}
    if roll < 0.8:
        return {"podSelector": _selector(rng), "namespaceSelector": _selector(rng)}
    if roll < 0.97:
        cidr = rng.choice(["10.244.0.0/16", f"10.244.{rng.randint(0, 3)}.0/24"])
        block: dict[str, Any] = {"cidr": cidr}
        if rng.random() < 0.5:
            block["except"] = [f"10.244.{rng.randint(0, 3)}.{rng.randint(0, 15) * 16}/28"]
        return {"ipBlock": block}
    return {}


def _port(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rng.random() < 0.7:
        out["protocol"] = rng.choice(["TCP", "UDP"])
    roll = rng.random()
    if roll < 0.4:
        out["port"] = rng.choice([80, 81, 443])
    elif roll < 0.6:
        out["port"], out["endPort"] = 80, rng.choice([81, 100])
    elif roll < 0.9:
        out["port"] = rng.choice(NAMES)
    return out


def _rule(rng: random.Random, field: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if rng.random() < 0.8:
        rule[field] = [_peer(rng) for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.6:
        rule["ports"] = [_port(rng) for _ in range(rng.randint(1, 2))]
    return rule


def world(seed: int) -> tuple[list[Any], list[Any], list[Any]]:
    rng = random.Random(seed)
    nss = [f"ns{i}" for i in range(3)]
    namespaces = [{"kind": "Namespace", "metadata": {"name": n, "labels": _labels(rng)}} for n in nss]
    pods = []
    for i in range(14):
        ports = [{"containerPort": rng.choice([80, 81, 443]), "protocol": rng.choice(["TCP", "UDP"]),
                  "name": rng.choice(NAMES)} for _ in range(rng.randint(0, 2))]
        pods.append({"kind": "Pod", "metadata": {"name": f"p{i}", "namespace": rng.choice(nss),
                                                 "labels": _labels(rng)},
                     "spec": {"containers": [{"name": "c", "ports": ports}]},
                     "status": {"podIP": f"10.244.{i % 4}.{i * 5}"}})
    policies = []
    for i in range(rng.randint(0, 6)):
        spec: dict[str, Any] = {"podSelector": _selector(rng)}
        if rng.random() < 0.8:
            spec["ingress"] = [_rule(rng, "from") for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.5:
            spec["egress"] = [_rule(rng, "to") for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.5:
            spec["policyTypes"] = rng.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]])
        policies.append({"kind": "NetworkPolicy",
                         "metadata": {"name": f"np{i}", "namespace": rng.choice(nss)}, "spec": spec})
    return pods, namespaces, policies


# -- the naive reference ------------------------------------------------------------


def _ns_labels(namespaces: list[Any], name: str) -> dict[str, str]:
    for ns in namespaces:
        if ns["metadata"]["name"] == name:
            return {**ns["metadata"].get("labels", {}), "kubernetes.io/metadata.name": name}
    return {"kubernetes.io/metadata.name": name}


def _types(spec: dict[str, Any]) -> list[str]:
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _selects(pol: dict[str, Any], pod: dict[str, Any]) -> bool:
    return (pod["metadata"]["namespace"] == pol["metadata"]["namespace"]
            and from_label_selector(pol["spec"].get("podSelector", {})).matches(pod["metadata"]["labels"]))


def _peer_matches(peer: dict[str, Any], pol_ns: str, other: dict[str, Any], namespaces: list[Any]) -> bool:
    if "ipBlock" in peer:
        ip = ipaddress.ip_address(other["status"]["podIP"])
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if "podSelector" not in peer and "namespaceSelector" not in peer:
        return False
    ns = other["metadata"]["namespace"]
    if "namespaceSelector" in peer:
        if not from_label_selector(peer["namespaceSelector"]).matches(_ns_labels(namespaces, ns)):
            return False
    elif ns != pol_ns:
        return False
    return "podSelector" not in peer or from_label_selector(peer["podSelector"]).matches(
        other["metadata"]["labels"])


def _port_matches(entry: dict[str, Any], dst: dict[str, Any], port: int, proto: str) -> bool:
    if entry.get("protocol", "TCP") != proto:
        return False
    want = entry.get("port")
    if want is None:
        return True
    if isinstance(want, str):
        return any(cp["name"] == want and cp["containerPort"] == port and cp["protocol"] == proto
                   for c in dst["spec"]["containers"] for cp in c["ports"])
    return want <= port <= entry.get("endPort", want)


def _direction_ok(direction: str, subject: dict[str, Any], peer: dict[str, Any], dst: dict[str, Any],
                  port: int, proto: str, policies: list[Any], namespaces: list[Any]) -> bool:
    ptype, rules_field, peers_field = (("Ingress", "ingress", "from") if direction == "in"
                                       else ("Egress", "egress", "to"))
    isolating = [p for p in policies if ptype in _types(p["spec"]) and _selects(p, subject)]
    if not isolating:
        return True
    for pol in isolating:
        for rule in pol["spec"].get(rules_field) or []:
            peers = rule.get(peers_field) or []
            if peers and not any(_peer_matches(x, pol["metadata"]["namespace"], peer, namespaces)
                                 for x in peers):
                continue
            ports = rule.get("ports") or []
            if not ports or any(_port_matches(e, dst, port, proto) for e in ports):
                return True
    return False


def reference(src: dict[str, Any], dst: dict[str, Any], port: int, proto: str,
              policies: list[Any], namespaces: list[Any]) -> bool:
    if src is dst:
        return True
    return (_direction_ok("out", src, dst, dst, port, proto, policies, namespaces)
            and _direction_ok("in", dst, src, dst, port, proto, policies, namespaces))


@pytest.mark.parametrize("seed", range(40))
def test_table_verdict_and_reference_agree(seed: int) -> None:
    pods, namespaces, policies = world(seed)
    keys = [(80, "TCP"), (81, "TCP"), (443, "UDP"), (80, "UDP"), (100, "TCP")]
    a = analyze(pods, namespaces, policies, ports=[80, 81, 100, 443], protocols=["TCP", "UDP"])
    by_key = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p for p in pods}
    mismatches = []
    for port, proto in keys:
        for src in a.table.pods:
            for dst in a.table.pods:
                got = a.table.allowed(src, dst, port, proto)
                want = reference(by_key[src], by_key[dst], port, proto, policies, namespaces)
                v = verdict(a.resolved, src, dst, port, proto)
                if got != want or v.allowed != want:
                    mismatches.append((src, dst, port, proto, got, v.allowed, want))
    assert not mismatches, mismatches[:5]


def test_worlds_are_not_trivial() -> None:
    """The random worlds must exercise both outcomes, or the test above proves little."""
    allowed = denied = 0
    for seed in range(40):
        pods, namespaces, policies = world(seed)
        a = analyze(pods, namespaces, policies, ports=[80, 81], protocols=["TCP", "UDP"])
        d = sum(1 for _ in a.table.denied())
        denied += d
        allowed += len(a.table.keys) * len(a.table.pods) ** 2 - d
    assert denied > 1000 and allowed > 1000


@pytest.mark.parametrize("seed", range(20))
def test_label_index_agrees_with_selector_matches(seed: int) -> None:
    rng = random.Random(seed)
    labels = [_labels(rng) for _ in range(30)]
    index = LabelIndex(labels)
    for _ in range(30):
        sel = from_label_selector(_selector(rng))
        got = index.match(sel)
        assert [bool(got >> i & 1) for i in range(30)] == [sel.matches(lab) for lab in labels]
    gt = from_label_selector({"matchExpressions": [{"key": "n", "operator": "Gt", "values": ["3"]}]})
    idx = LabelIndex([{"n": "5"}, {"n": "2"}, {"n": "x"}, {}])
    assert idx.match(gt) == 0b0001
    assert idx.match(from_label_selector(None)) == 0
