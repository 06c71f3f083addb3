"""Lint warnings from ``analyze``: each kind of mistake, and silence on a clean world."""

from __future__ import annotations

from typing import Any

from policy_world import World, policy

SEL_A = {"matchLabels": {"pod": "a"}}


def service(ns: str, name: str, selector: dict[str, str] | None, target: object = 80,
            protocol: str = "TCP") -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": [{"port": 80, "targetPort": target, "protocol": protocol}]}
    if selector is not None:
        spec["selector"] = selector
    return {"kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def warnings(w: World, services: list[dict[str, Any]] | None = None) -> list[str]:
    return [str(x) for x in w.analyze(services=services or []).warnings]


def test_clean_world_has_no_warnings() -> None:
    w = World().apply(policy("x", "ok", {"podSelector": SEL_A, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
         "ports": [{"port": "serve-80-tcp"}, {"port": 81, "endPort": 90}]},
        {"from": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}]}))
    svcs = [service("x", "web", {"pod": "a"}, "serve-80-tcp"), service("x", "manual", None),
            service("y", "udp", {"pod": "b"}, "serve-81-udp", "UDP")]
    assert warnings(w, svcs) == []


def test_policy_selecting_no_pod() -> None:
    w = World().apply(policy("x", "nobody", {"podSelector": {"matchLabels": {"pod": "zzz"}}}),
                      policy("empty-ns", "deny", {"podSelector": {}}))
    assert warnings(w) == [
        "NetworkPolicy empty-ns/deny: podSelector {} selects no pod in namespace empty-ns",
        "NetworkPolicy x/nobody: podSelector {pod=zzz} selects no pod in namespace x",
    ]


def test_peer_selecting_nothing_and_invalid_peer() -> None:
    w = World().apply(policy("x", "p", {"podSelector": SEL_A, "egress": [{"to": [
        {"namespaceSelector": {"matchLabels": {"ns": "nope"}}},
        {"namespaceSelector": {"matchLabels": {"ns": "y"}}, "podSelector": {"matchLabels": {"pod": "q"}}},
        {}]}]}))
    assert warnings(w) == [
        "NetworkPolicy x/p: egress rule 1 peer 1 (namespaceSelector {ns=nope}) selects no pod",
        "NetworkPolicy x/p: egress rule 1 peer 2 (namespaceSelector {ns=y} and podSelector {pod=q}) "
        "selects no pod",
        "NetworkPolicy x/p: egress rule 1 peer 3: invalid peer (no selector, no ipBlock)",
    ]


def test_named_port_no_container_defines() -> None:
    w = World().apply(policy("x", "p", {"podSelector": SEL_A, "ingress": [
        {"ports": [{"port": "serve-80-tcp", "protocol": "UDP"}, {"port": "metrics"}]}]}))
    assert warnings(w) == [
        "NetworkPolicy x/p: ingress rule 1: named port serve-80-tcp/UDP is defined by no container "
        "of the pods it applies to (defined for TCP only)",
        "NetworkPolicy x/p: ingress rule 1: named port metrics/TCP is defined by no container "
        "of the pods it applies to",
    ]
    # egress: checked against the peer pods (the destinations), not the policy's pods
    w2 = World()
    w2.pods[("y", "b")]["spec"]["containers"][0]["ports"].append({"name": "metrics", "containerPort": 9090})
    w2.apply(policy("x", "eg", {"podSelector": SEL_A, "egress": [
        {"to": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}], "ports": [{"port": "metrics"}]}]}))
    assert warnings(w2) == []
    w2.apply(policy("x", "eg", {"podSelector": SEL_A, "egress": [
        {"to": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}], "ports": [{"port": "metrics"}]}]}))
    assert len(warnings(w2)) == 1


def test_end_port_below_port() -> None:
    w = World().apply(policy("x", "p", {"podSelector": SEL_A, "ingress": [{"ports": [{"port": 90, "endPort": 80}]}]}))
    assert warnings(w) == ["NetworkPolicy x/p: ingress rule 1: endPort 80 is below port 90"]


def test_service_selecting_no_pod_and_unknown_target_port() -> None:
    svcs = [service("x", "ghost", {"pod": "zzz"}), service("y", "web", {"pod": "a"}, "http"),
            service("z", "tcp-name-on-udp", {"pod": "a"}, "serve-80-tcp", "UDP"),
            service("x", "other-ns", {"pod": "a"}, "serve-80-tcp")]
    assert warnings(World(), svcs) == [
        "Service x/ghost: selector {pod=zzz} selects no pod",
        "Service y/web: targetPort 'http'/TCP is not a named containerPort of y/a",
        "Service z/tcp-name-on-udp: targetPort 'serve-80-tcp'/UDP is not a named containerPort of z/a",
    ]
