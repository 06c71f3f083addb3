"""NetworkPolicy on a real 3-node cluster: the gatekeepers' nftables against the offline truth table.

The upstream e2e world: namespaces x, y, z (label ``ns=<name>``), pods a, b, c in
each (label ``pod=<name>``) serving 80 and 81 over TCP and UDP with ports named
``serve-80-tcp`` ... (the node's built-in server). Pods are pinned so that every
node holds one pod of each namespace: pairs on the same node (bridged) and
across nodes (routed) both occur. The pods of x have one ClusterIP Service each,
so probes into x go through a ClusterIP (after DNAT), into y and z by pod IP.

Every scenario applies its policies, then checks three things: the offline table
(``podnet.policy.analyze`` over the objects read back from the API server) against
the scenario's expectation, the live table (``podnet.policy.probe``: real
connections from inside each pod's namespace, 1 s timeout, in parallel), and that
the two are equal - retried for a few seconds, since enforcement follows the API
asynchronously. Policies are deleted (and labels restored) after each scenario.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from clusterlib import Cluster, cluster_context, make_cluster

from podnet.apiserver.client import Client
from podnet.kernel import netns as kernel_netns
from podnet.policy.analyze import analyze
from podnet.policy.probe_cluster import Report, fetch, probe_cluster

pytestmark = [pytest.mark.root, pytest.mark.slow]

NS = ("x", "y", "z")
PODS = ("a", "b", "c")
ALL = [(80, "TCP"), (80, "UDP"), (81, "TCP"), (81, "UDP")]
TCP80 = [(80, "TCP")]
T = TypeVar("T")
Expect = Callable[[str, str, int, str], bool]


def node_of(ns: str, pod: str, nodes: int = 3) -> str:
    return f"node-{(NS.index(ns) + PODS.index(pod)) % nodes + 1}"


def world_manifests(nodes: int = 3, namespaces: tuple[str, ...] = NS) -> list[dict[str, Any]]:
    ports = [{"name": f"serve-{p}-{proto.lower()}", "containerPort": p, "protocol": proto}
             for p in (80, 81) for proto in ("TCP", "UDP")]
    out: list[dict[str, Any]] = []
    for ns in namespaces:
        out.append({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"ns": ns}}})
        for p in PODS:
            out.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": p, "namespace": ns, "labels": {"pod": p}},
                        "spec": {"nodeName": node_of(ns, p, nodes),
                                 "containers": [{"name": "cont", "image": "agnhost", "ports": ports}]}})
            if ns == "x":
                out.append({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": f"s-{p}", "namespace": ns},
                            "spec": {"selector": {"pod": p}, "ports": [
                                {"name": f"{n}-{proto.lower()}", "port": n, "protocol": proto,
                                 "targetPort": f"serve-{n}-{proto.lower()}"}
                                for n in (80, 81) for proto in ("TCP", "UDP")]}})
    return out


def netpol(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def api(c: Cluster, fn: Callable[[Client], Awaitable[T]]) -> T:
    """Run ``fn(client)`` against the cluster's API server (in-process: no CLI start-up)."""
    async def go() -> T:
        client = Client(socket_path=str(c.root / c.name / "apiserver.sock"))
        try:
            return await fn(client)
        finally:
            await client.close()
    return asyncio.run(go())


def apply(c: Cluster, *objs: dict[str, Any]) -> None:
    async def go(client: Client) -> None:
        for o in objs:
            await client.apply(o)
    api(c, go)


def label(c: Cluster, resource: str, ns: str, name: str, **labels: str | None) -> None:
    """Merge ``labels`` into an object's labels; None removes a key."""
    api(c, lambda client: client.patch(resource, ns, name, {"metadata": {"labels": labels}}))


def delete(c: Cluster, resource: str, ns: str, *names: str) -> None:
    async def go(client: Client) -> None:
        for n in names:
            await client.delete(resource, ns, n)
    api(c, go)


def objects(c: Cluster) -> dict[str, list[dict[str, Any]]]:
    return api(c, fetch)


def ns_of(pod: str) -> str:
    return pod.split("/")[0]


def open_all(s: str, d: str, port: int, proto: str) -> bool:
    return True


def converge(c: Cluster, expect: Expect, keys: list[tuple[int, str]] = TCP80, timeout: float = 20,
             namespaces: tuple[str, ...] = NS) -> Report:
    """Offline == expect (asserted at once: the objects are already in the API), then probe
    until live == offline (enforcement is asynchronous); fail with the differing cells."""
    objs = objects(c)
    ports, protos = sorted({k[0] for k in keys}), sorted({k[1] for k in keys})
    running = [p for p in objs["pods"] if p["metadata"]["namespace"] in namespaces
               and p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    offline = analyze(running, objs["namespaces"], objs["networkpolicies"], objs["services"],
                      ports, protos, objs["nodes"]).table
    wrong = [(s, d, port, proto) for port, proto in keys for s in offline.pods for d in offline.pods
             if offline.allowed(s, d, port, proto) != (s == d or expect(s, d, port, proto))]
    assert not wrong, f"offline table differs from the expectation at {wrong[:8]}"
    deadline = time.monotonic() + timeout
    while True:
        report = asyncio.run(probe_cluster(c.name, objs, list(namespaces), ports, protos,
                                           compare=True))
        assert report.live.table.pods == offline.pods
        if not report.diffs:
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"live differs from offline at {report.diffs[:10]}")
        objs = objects(c)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    for c in make_cluster(tmp_path_factory, "--nodes", "3", "--network", "flat"):
        apply(c, *world_manifests())
        for ns in NS:
            c.running_pods(ns, 3, timeout=120)
        yield c


@pytest.fixture
def world(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, with every policy deleted and every label restored afterwards."""
    yield cluster

    async def clean(client: Client) -> None:
        for ns in NS:
            pols, _ = await client.list("networkpolicies", ns)
            for pol in pols:
                await client.delete("networkpolicies", ns, pol["metadata"]["name"])
            pods, _ = await client.list("pods", ns)
            for pod in pods:
                name, labels = pod["metadata"]["name"], pod["metadata"].get("labels") or {}
                if name in PODS and labels != {"pod": name}:
                    fix: dict[str, str | None] = {k: None for k in labels}
                    fix["pod"] = name
                    await client.patch("pods", ns, name, {"metadata": {"labels": fix}})
            obj = await client.get("namespaces", "", ns)
            labels = obj["metadata"].get("labels") or {}
            want = {"ns": ns, "kubernetes.io/metadata.name": ns}
            if labels != want:
                fix = {k: None for k in labels if k not in want}
                await client.patch("namespaces", "", ns, {"metadata": {"labels": {**fix, **want}}})
    api(cluster, clean)


# -- the scenario families -------------------------------------------------------------

def test_no_policy_everything_open_and_x_probed_through_cluster_ips(world: Cluster) -> None:
    report = converge(world, open_all, ALL)
    assert sum(1 for _ in report.live.table.denied()) == 0
    vias = {(pod, port, proto): t.via for (pod, port, proto), t in report.live.targets.items()}
    assert vias[("x/a", 80, "UDP")] == "service x/s-a" and vias[("x/c", 81, "TCP")] == "service x/s-c"
    assert vias[("y/b", 80, "TCP")] == "pod IP"


def test_default_deny_ingress_and_egress(world: Cluster) -> None:
    c = world
    apply(c, netpol("x", "deny-ingress", {"podSelector": {}}))
    converge(c, lambda s, d, port, proto: ns_of(d) != "x", [(80, "TCP"), (81, "UDP")])
    apply(c, netpol("y", "deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]}))
    converge(c, lambda s, d, port, proto: ns_of(d) != "x" and ns_of(s) != "y", [(80, "UDP"), (81, "TCP")])


def test_pod_and_namespace_selectors_and_vs_or(world: Cluster) -> None:
    c = world
    into_a = {"matchLabels": {"pod": "a"}}
    apply(c, netpol("x", "and", {"podSelector": into_a, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"ns": "y"}}, "podSelector": {"matchLabels": {"pod": "b"}}}]}]}))
    converge(c, lambda s, d, port, proto: d != "x/a" or s == "y/b")
    apply(c, netpol("x", "and", {"podSelector": into_a, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"ns": "y"}}}, {"podSelector": {"matchLabels": {"pod": "b"}}}]}]}))
    converge(c, lambda s, d, port, proto: d != "x/a" or ns_of(s) == "y" or s == "x/b")


def test_match_expressions(world: Cluster) -> None:
    c = world
    apply(c, netpol("y", "expr", {"podSelector": {"matchExpressions": [
        {"key": "pod", "operator": "In", "values": ["a", "b"]}]}, "ingress": [{"from": [
            {"namespaceSelector": {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["z"]}]},
             "podSelector": {"matchExpressions": [{"key": "pod", "operator": "Exists"}]}}]}]}))
    converge(c, lambda s, d, port, proto: d not in ("y/a", "y/b") or ns_of(s) != "z")


def test_named_ports_ingress_and_egress_and_wrong_protocol(world: Cluster) -> None:
    c = world
    # ingress into x: serve-81-tcp and serve-80-udp; serve-81-udp asked as TCP matches nothing
    apply(c, netpol("x", "named", {"podSelector": {}, "ingress": [{"ports": [
        {"port": "serve-81-tcp"}, {"port": "serve-80-udp", "protocol": "UDP"},
        {"port": "serve-81-udp", "protocol": "TCP"}]}]}))
    converge(c, lambda s, d, port, proto: ns_of(d) != "x" or (port, proto) in ((81, "TCP"), (80, "UDP")),
             ALL)
    delete(c, "networkpolicies", "x", "named")
    apply(c, netpol("z", "named-egress", {"podSelector": {"matchLabels": {"pod": "a"}},
                                          "policyTypes": ["Egress"], "egress": [{"ports": [
                                              {"port": "serve-80-tcp"}, {"port": "serve-81-udp",
                                                                         "protocol": "UDP"}]}]}))
    converge(c, lambda s, d, port, proto: s != "z/a" or (port, proto) in ((80, "TCP"), (81, "UDP")), ALL)


def test_end_port_and_protocol_defaults_and_protocol_only(world: Cluster) -> None:
    c = world
    apply(c, netpol("y", "range", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [
        {"ports": [{"port": 79, "endPort": 80, "protocol": "UDP"}, {"port": 81}]}]}),  # no protocol: TCP
          netpol("z", "udp-only", {"podSelector": {"matchLabels": {"pod": "b"}}, "ingress": [
              {"ports": [{"protocol": "UDP"}]}]}))
    converge(c, lambda s, d, port, proto: (
        (d != "y/a" or (port, proto) in ((80, "UDP"), (81, "TCP")))
        and (d != "z/b" or proto == "UDP")), ALL)


def test_ip_block_with_except_ingress_and_egress(world: Cluster) -> None:
    c = world
    ips = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["status"]["podIP"]
           for ns in NS for p in c.get("pods", "-n", ns)["items"]}
    node2 = {k for k in ips if node_of(ns_of(k), k.split("/")[1]) == "node-2"}
    apply(c, netpol("x", "block", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [{"from": [
        {"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24"]}}]}]}),
          netpol("y", "egress-block", {"podSelector": {"matchLabels": {"pod": "c"}},
                                       "policyTypes": ["Egress"], "egress": [{"to": [
              {"ipBlock": {"cidr": f"{ips['z/c']}/32"}}]}]}))
    converge(c, lambda s, d, port, proto: (d != "x/a" or s not in node2) and (s != "y/c" or d == "z/c"))


def test_stacked_updated_and_deleted_policies(world: Cluster) -> None:
    c = world
    apply(c, netpol("x", "deny", {"podSelector": {}}),
          netpol("x", "allow-y-to-a", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [
              {"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}], "ports": [{"port": 80}]}]}),
          # regression: a specific port never wipes out an all-ports rule
          netpol("x", "all-ports-from-z-to-b", {"podSelector": {"matchLabels": {"pod": "b"}}, "ingress": [
              {"from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}]},
              {"from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}], "ports": [{"port": 80}]}]}))
    stacked = lambda s, d, port, proto: (  # noqa: E731
        ns_of(d) != "x" or (d == "x/a" and ns_of(s) == "y" and (port, proto) == (80, "TCP"))
        or (d == "x/b" and ns_of(s) == "z"))
    converge(c, stacked, [(80, "TCP"), (81, "TCP")])
    apply(c, netpol("x", "allow-y-to-a", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}], "ports": [{"port": 80}]}]}))
    converge(c, lambda s, d, port, proto: (
        ns_of(d) != "x" or (d == "x/a" and ns_of(s) == "z" and port == 80) or (d == "x/b" and ns_of(s) == "z")),
             [(80, "TCP"), (81, "TCP")])
    # regression: deleting every policy restores full connectivity
    delete(c, "networkpolicies", "x", "deny", "allow-y-to-a", "all-ports-from-z-to-b")
    converge(c, open_all, [(80, "TCP"), (81, "UDP")])


def test_relabelled_pods_and_namespaces_and_enforcement_latency(world: Cluster) -> None:
    c = world
    apply(c, netpol("x", "team", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"env": "prod"}}, "podSelector": {"matchLabels": {"team": "blue"}}}]}]}))
    converge(c, lambda s, d, port, proto: ns_of(d) != "x")
    label(c, "namespaces", "", "z", env="prod")
    label(c, "pods", "z", "b", team="blue")
    converge(c, lambda s, d, port, proto: ns_of(d) != "x" or s == "z/b")
    # latency: relabel y/a into the allowed set and time the first connection that gets through
    client, server = "y/a", "x/b"  # different nodes
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in c.get("pods", "-n", "x")["items"]}
    label(c, "namespaces", "", "y", env="prod")
    assert not tcp_ok(netns(c, client), ips["b"], 80, 0.5)
    t0 = time.monotonic()
    label(c, "pods", "y", "a", team="blue")
    opened = first_success(netns(c, client), ips["b"], 80, t0, timeout=10)
    # and back: unlabel, then time until connections stay refused
    t1 = time.monotonic()
    label(c, "pods", "y", "a", team=None)
    closed = first_lasting_failure(netns(c, client), ips["b"], 80, t1, timeout=10)
    print(f"\npolicy enforcement latency (label change in the API -> kernel): allow {opened:.2f} s, "
          f"deny {closed:.2f} s; server {server}")
    assert opened < 5 and closed < 5


def netns(c: Cluster, pod: str) -> str:
    ns, name = pod.split("/")
    return f"pn-{c.name}-{ns}.{name}"


def tcp_ok(ns: str, ip: str, port: int, timeout: float) -> bool:
    with kernel_netns.entered(ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((ip, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def first_success(ns: str, ip: str, port: int, since: float, timeout: float) -> float:
    while time.monotonic() - since < timeout:
        if tcp_ok(ns, ip, port, 0.2):
            return time.monotonic() - since
    raise AssertionError(f"{ip}:{port} still closed after {timeout} s")


def first_lasting_failure(ns: str, ip: str, port: int, since: float, timeout: float) -> float:
    """When connections started failing for good (three failures in a row, 0.2 s timeout each)."""
    fail_from: float | None = None
    fails = 0
    while time.monotonic() - since < timeout:
        start = time.monotonic()
        if tcp_ok(ns, ip, port, 0.2):
            fail_from, fails = None, 0
            time.sleep(0.02)
            continue
        fail_from = start if fail_from is None else fail_from
        fails += 1
        if fails >= 3:
            return fail_from - since
    raise AssertionError(f"{ip}:{port} still open after {timeout} s")


def pod_ipv4(ns: str) -> str | None:
    r = subprocess.run(["ip", "-n", ns, "-4", "-o", "addr", "show", "dev", "eth0"],
                       capture_output=True, text=True)
    parts = r.stdout.split()
    return parts[3].split("/")[0] if r.returncode == 0 and len(parts) > 3 else None


def test_pod_created_under_a_deny_policy_is_never_reachable(world: Cluster) -> None:
    c = world
    # the policy also selects z/c (same node as the new pod): once z/c is isolated, that node's
    # gatekeeper has the policy, before the new pod exists
    apply(c, netpol("z", "deny-new", {"podSelector": {"matchExpressions": [
        {"key": "pod", "operator": "In", "values": ["new", "c"]}]}}))
    converge(c, lambda s, d, port, proto: d != "z/c")
    node = node_of("z", "c")
    new = next(o for o in world_manifests() if o["kind"] == "Pod" and o["metadata"]["name"] == "c"
               and o["metadata"]["namespace"] == "z")
    new = json.loads(json.dumps(new))
    new["metadata"]["name"], new["metadata"]["labels"] = "new", {"pod": "new"}
    assert new["spec"]["nodeName"] == node
    sandbox = netns(c, "z/new")
    sources = [netns(c, p) for p in ("x/a", "x/b", "y/a", "y/b") if node_of(ns_of(p), p.split("/")[1]) == node][:1] + \
        [netns(c, p) for p in ("x/a", "x/b", "y/a", "y/b") if node_of(ns_of(p), p.split("/")[1]) != node][:1]
    assert len(sources) == 2  # one on the new pod's node (bridged), one on another (routed)
    apply(c, new)
    try:
        deadline = time.monotonic() + 60
        ip = None
        while ip is None and time.monotonic() < deadline:
            ip = pod_ipv4(sandbox) if kernel_netns.exists(sandbox) else None
        assert ip, "the new pod never got an address"
        attempts = got_through = 0
        running_since: float | None = None
        while time.monotonic() < deadline:
            for src in sources:
                attempts += 1
                got_through += tcp_ok(src, ip, 80, 0.05)
            if running_since is None and attempts % 20 == 0:
                pod = api(c, lambda client: client.get("pods", "z", "new"))
                if pod["status"].get("phase") == "Running":
                    running_since = time.monotonic()
            if running_since is not None and time.monotonic() - running_since > 2:
                break
        assert running_since is not None, "the new pod never ran"
        assert tcp_ok(sandbox, ip, 80, 1.0), "the new pod does not serve (probed from itself)"
        assert got_through == 0, f"{got_through} of {attempts} connections reached the new pod"
        print(f"\nnew pod under a deny policy: {attempts} connection attempts from creation, none got through")
        delete(c, "networkpolicies", "z", "deny-new")
        first_success(sources[1], ip, 80, time.monotonic(), timeout=10)
    finally:
        c.podnet("delete", "pod", "new", "-n", "z", check=False)
        c.wait("z/new gone", lambda: all(p["metadata"]["name"] != "new"
                                         for p in c.get("pods", "-n", "z")["items"]))


def test_cli_probe_json_table_and_compare(world: Cluster) -> None:
    c = world
    apply(c, netpol("y", "deny", {"podSelector": {"matchLabels": {"pod": "b"}}}))
    converge(c, lambda s, d, port, proto: d != "y/b", [(80, "TCP"), (80, "UDP")])
    r = c.podnet("probe", "--compare", "-o", "json", "-n", "x", "-n", "y", "--ports", "80",
                 "--protocols", "TCP,UDP")
    doc = json.loads(r.stdout)
    assert len(doc["entries"]) == 6 * 6 * 2 and doc["differences"] == []
    denied = {(e["from"], e["to"], e["protocol"]) for e in doc["entries"] if not e["allowed"]}
    assert denied == {(s, "y/b", proto) for s in ("x/a", "x/b", "x/c", "y/a", "y/c") for proto in ("TCP", "UDP")}
    assert {e["to"]: e["via"] for e in doc["targets"]}["x/a"] == "service x/s-a"
    out = c.podnet("probe", "--compare", "-n", "y", "--ports", "81", "--protocols", "UDP").stdout
    assert "81/UDP" in out and "live and offline agree on every cell" in out and "(pod IP)" in out


def test_vxlan_cluster_enforces_the_same(tmp_path_factory: pytest.TempPathFactory) -> None:
    with cluster_context(tmp_path_factory, "--nodes", "2", "--network", "vxlan") as c:
        apply(c, *world_manifests(nodes=2, namespaces=("x", "y")))
        for ns in ("x", "y"):
            c.running_pods(ns, 3, timeout=120)
        apply(c, netpol("x", "from-y-b", {"podSelector": {}, "ingress": [
            {"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"pod": "b"}}}],
             "ports": [{"port": 80}, {"port": "serve-81-udp", "protocol": "UDP"}]}]}))
        converge(c, lambda s, d, port, proto: ns_of(d) != "x" or (s in ("x/b", "y/b") and
                 (port, proto) in ((80, "TCP"), (81, "UDP"))), [(80, "TCP"), (81, "UDP")],
                 namespaces=("x", "y"))
