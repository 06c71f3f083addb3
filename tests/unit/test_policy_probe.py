"""The pure parts of ``podnet probe``: which address a destination is probed at, and the
cell-by-cell comparison with the offline table."""

from __future__ import annotations

from typing import Any

from policy_world import World, policy

from podnet.policy.probe import differences, service_targets


def svc(name: str, selector: dict[str, str], ports: list[dict[str, Any]], ip: str = "10.96.0.9") -> dict[str, Any]:
    return {"kind": "Service", "metadata": {"name": name, "namespace": "x"},
            "spec": {"clusterIP": ip, "selector": selector, "ports": ports}}


def test_service_targets_only_for_a_service_of_exactly_that_pod_and_port() -> None:
    w = World()
    pods = list(w.pods.values())
    services = [
        svc("s-a", {"pod": "a"}, [{"port": 8080, "targetPort": "serve-80-tcp"},
                                  {"port": 81, "protocol": "UDP"}]),
        svc("all", {}, [{"port": 80}], "10.96.0.10"),  # no selector: not a pod's own
        svc("many", {"ns": "x"}, [{"port": 80}], "10.96.0.11"),  # selects nothing (pods lack ns label)
        svc("s-b-headless", {"pod": "b"}, [{"port": 80}], "None"),
    ]
    t = service_targets(pods, services, [(80, "TCP"), (81, "UDP"), (81, "TCP")])
    assert (t[("x/a", 80, "TCP")].ip, t[("x/a", 80, "TCP")].port) == ("10.96.0.9", 8080)
    assert t[("x/a", 80, "TCP")].via == "service x/s-a"
    assert t[("x/a", 81, "UDP")].port == 81 and t[("x/a", 81, "UDP")].via == "service x/s-a"
    assert t[("x/a", 81, "TCP")].via == "pod IP" and t[("x/a", 81, "TCP")].ip == "10.244.1.10"
    assert t[("x/b", 80, "TCP")].via == "pod IP"
    w.label_pod("x", "b", {"pod": "a"})  # now s-a selects two pods: nobody's own
    t = service_targets(list(w.pods.values()), services, [(80, "TCP")])
    assert t[("x/a", 80, "TCP")].via == "pod IP"


def test_differences_lists_each_disagreeing_cell() -> None:
    open_ = World().analyze(ports=[80], protocols=["TCP"]).table
    deny = World().apply(policy("y", "d", {"podSelector": {"matchLabels": {"pod": "c"}}}))
    denied = deny.analyze(ports=[80], protocols=["TCP"]).table
    diffs = differences(open_, denied)
    assert len(diffs) == 8 and all(d[1] == "y/c" and d[4] and not d[5] for d in diffs)
    assert differences(denied, denied) == []
