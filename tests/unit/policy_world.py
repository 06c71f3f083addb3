"""The upstream e2e NetworkPolicy world, as plain Kubernetes dicts, for policy tests.

Namespaces x, y, z (label ``ns=<name>``), pods a, b, c in each (label
``pod=<name>``), every pod serving 80 and 81 over TCP and UDP with the upstream
port names ``serve-80-tcp`` ... ``serve-81-udp``. Pods alternate between two
nodes. ``expect`` turns a compact ``.``/``X`` matrix into a dict to compare
with a computed table, so every test states its expected table literally.
"""

from __future__ import annotations

from typing import Any

from podnet.policy.analyze import Analysis, analyze
from podnet.policy.tablefmt import as_dict, parse_matrix

NS = ("x", "y", "z")
PODS = ("a", "b", "c")
KEYS = [(80, "TCP"), (80, "UDP"), (81, "TCP"), (81, "UDP")]
ALL_KEYS = ("80/TCP", "80/UDP", "81/TCP", "81/UDP")


def pod_ip(ns: str, name: str) -> str:
    return f"10.244.{NS.index(ns) + 1}.{PODS.index(name) + 10}"


def node_of(ns: str, name: str) -> int:
    return (NS.index(ns) * 3 + PODS.index(name)) % 2 + 1


def make_pod(ns: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    node = node_of(ns, name)
    ports = [{"name": f"serve-{p}-{proto.lower()}", "containerPort": p, "protocol": proto}
             for p in (80, 81) for proto in ("TCP", "UDP")]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns,
                     "labels": labels if labels is not None else {"pod": name}},
        "spec": {"nodeName": f"node-{node}",
                 "containers": [{"name": "cont", "image": "agnhost", "ports": ports}]},
        "status": {"phase": "Running", "podIP": pod_ip(ns, name), "hostIP": f"172.18.0.{10 + node}"},
    }


def make_ns(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels if labels is not None else {"ns": name}}}


def policy(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


class World:
    """Mutable e2e world: relabel pods/namespaces, add/replace/delete policies."""

    def __init__(self) -> None:
        self.pods = {(ns, p): make_pod(ns, p) for ns in NS for p in PODS}
        self.namespaces = {ns: make_ns(ns) for ns in NS}
        self.policies: dict[tuple[str, str], dict[str, Any]] = {}

    def apply(self, *pols: dict[str, Any]) -> World:
        for pol in pols:
            self.policies[(pol["metadata"]["namespace"], pol["metadata"]["name"])] = pol
        return self

    def delete(self, ns: str, name: str) -> World:
        del self.policies[(ns, name)]
        return self

    def label_pod(self, ns: str, name: str, labels: dict[str, str]) -> World:
        self.pods[(ns, name)]["metadata"]["labels"] = labels
        return self

    def label_ns(self, ns: str, labels: dict[str, str]) -> World:
        self.namespaces[ns]["metadata"]["labels"] = labels
        return self

    def analyze(self, **kw: Any) -> Analysis:
        return analyze(list(self.pods.values()), list(self.namespaces.values()),
                       list(self.policies.values()), kw.pop("services", []),
                       ports=kw.pop("ports", [80, 81]), protocols=kw.pop("protocols", ["TCP", "UDP"]),
                       **kw)


HEADER = "    " + " ".join(f"{n}/{p}" for n in NS for p in PODS)
ALL_OPEN = "\n".join([HEADER] + [f"{n}/{p}" + " ." * 9 for n in NS for p in PODS])


def table_of(analysis: Analysis, key: str) -> dict[tuple[str, str], bool]:
    port, proto = key.split("/")
    return as_dict(analysis.table, (int(port), proto))


def check(analysis: Analysis, expected: dict[str, str]) -> None:
    """Each key of ``expected`` ("80/TCP" or "80/TCP 81/UDP") maps to a matrix;
    keys not mentioned must be fully open."""
    want: dict[str, str] = dict.fromkeys(ALL_KEYS, ALL_OPEN)
    for keys, text in expected.items():
        for key in keys.split():
            want[key] = text
    for key, text in want.items():
        got, exp = table_of(analysis, key), parse_matrix(text)
        diff = sorted(k for k in exp if exp[k] != got[k])
        assert not diff, f"{key}: differs at {diff}"
