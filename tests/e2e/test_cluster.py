"""Whole clusters on this host: up, pods on every node, reachability with real source IPs, down.

Each test brings up its own uniquely named cluster in a private state directory
and tears it down (the fixture asserts no namespace is left behind).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from clusterlib import Cluster, cluster_context, make_cluster

pytestmark = [pytest.mark.root, pytest.mark.slow]

NINE_PODS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 9
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: netexec
        image: podnet.dev/netexec
        ports: [{containerPort: 8080}, {containerPort: 8081, protocol: UDP}]
"""


def in_netns(ns: str, *cmd: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=timeout)


def curl(ns: str, url: str) -> str:
    r = in_netns(ns, "curl", "-s", "--max-time", "3", url)
    return r.stdout if r.returncode == 0 else f"<curl exit {r.returncode}>"


def pod_ns(c: Cluster, pod: dict[str, Any]) -> str:
    return f"pn-{c.name}-{pod['metadata']['namespace']}.{pod['metadata']['name']}"


def reachability(c: Cluster, pods: list[dict[str, Any]]) -> None:
    """Every pod reaches every pod; the server sees the client's own pod IP.

    A pair that fails is tried once more a second later (upstream e2e polls connectivity
    too); what failed the first time is printed, so a transient loss stays visible."""
    def attempt(src: dict[str, Any], dst: dict[str, Any]) -> str | None:
        got = curl(pod_ns(c, src), f"http://{dst['status']['podIP']}:8080/clientip")
        if got.rsplit(":", 1)[0] == src["status"]["podIP"]:
            return None
        return (f"{src['metadata']['name']}@{src['spec']['nodeName']} -> "
                f"{dst['metadata']['name']}@{dst['spec']['nodeName']}: {got!r}")

    first = [(s, d, why) for s in pods for d in pods if (why := attempt(s, d)) is not None]
    if first:
        print("reachability, first attempt failed:\n" + "\n".join(w for _, _, w in first))
        time.sleep(1)
    failures = [why for s, d, _ in first if (why := attempt(s, d)) is not None]
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module", params=["flat", "vxlan"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from make_cluster(tmp_path_factory, "--nodes", "3", "--network", request.param)


def test_nine_pods_across_three_nodes_see_real_source_ips(cluster: Cluster) -> None:
    c = cluster
    nodes = c.get("nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["node-1", "node-2", "node-3"]
    c.podnet("apply", "-f", "-", stdin=NINE_PODS)
    pods = c.running_pods("default", 9)
    assert {p["spec"]["nodeName"] for p in pods} == {"node-1", "node-2", "node-3"}
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == 9
    for p in pods:
        node = next(n for n in nodes if n["metadata"]["name"] == p["spec"]["nodeName"])
        import ipaddress
        assert ipaddress.ip_address(p["status"]["podIP"]) in ipaddress.ip_network(node["spec"]["podCIDR"])
    reachability(c, pods)
    # UDP too, and the pod's hostname answer
    first, last = pods[0], pods[-1]
    r = in_netns(pod_ns(c, first), "sh", "-c",
                 f"echo hostname | nc -u -w1 {last['status']['podIP']} 8081")
    assert r.stdout.strip() == last["metadata"]["name"]


def test_node_to_pod_pod_to_node_and_external_masquerade(cluster: Cluster) -> None:
    c = cluster
    pods = c.running_pods("default", 9)
    pod = pods[0]
    node = pod["spec"]["nodeName"]
    # node -> pod: the pod sees the node's address on its bridge
    got = curl(f"pn-{c.name}-{node}", f"http://{pod['status']['podIP']}:8080/hostname")
    assert got == pod["metadata"]["name"]
    # pod -> node (its own node answers ping)
    node_ip = pod["status"]["hostIP"]
    assert in_netns(pod_ns(c, pod), "ping", "-c1", "-W2", node_ip).returncode == 0
    # pod -> external: masqueraded to the node IP
    from pathlib import Path

    from podnet.agent.netexec import NetexecHost, PodSpec, write_spec
    spec_dir = Path(c.root) / "external-server"
    write_spec(spec_dir, PodSpec("ext", f"pn-{c.name}-external", "outside", "", "", "", ((9090, "TCP"),)))
    import asyncio
    import threading

    host = NetexecHost(spec_dir)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    t = threading.Thread(target=lambda: loop.run_until_complete(_serve(host, stop)), daemon=True)
    t.start()
    try:
        ext_ip = "172.18.0.2"
        for _ in range(50):
            got = curl(pod_ns(c, pod), f"http://{ext_ip}:9090/clientip")
            if not got.startswith("<"):
                break
        assert got.rsplit(":", 1)[0] == node_ip, got
    finally:
        loop.call_soon_threadsafe(stop.set)
        t.join(5)


async def _serve(host: Any, stop: Any) -> None:
    await host.reload()
    await stop.wait()
    for srv in host.pods.values():
        await srv.stop()


def test_exec_and_replaced_pod_gets_new_ip(cluster: Cluster) -> None:
    c = cluster
    pods = c.running_pods("default", 9)
    victim = pods[0]
    r = c.exec(victim["metadata"]["name"], "cat", "/etc/resolv.conf")
    assert "nameserver 10.96.0.10" in r.stdout and "options ndots:5" in r.stdout
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in r.stdout
    assert c.exec(victim["metadata"]["name"], "sh", "-c", "exit 7", check=False).returncode == 7
    c.podnet("delete", "pod", victim["metadata"]["name"])

    def replaced() -> list[dict[str, Any]] | None:
        now = c.get("pods")["items"]
        names = {p["metadata"]["name"] for p in now}
        running = [p for p in now if p["status"].get("phase") == "Running" and p["status"].get("podIP")]
        if victim["metadata"]["name"] not in names and len(running) == 9:
            return running
        return None

    now = c.wait("replacement pod", replaced, 60)
    new = [p for p in now if p["metadata"]["name"] not in {q["metadata"]["name"] for q in pods}]
    assert len(new) == 1
    assert new[0]["status"]["podIP"] != victim["status"]["podIP"]


def test_vxlan_across_two_l3_subnets_joined_by_a_router(tmp_path_factory: pytest.TempPathFactory) -> None:
    cfg = tmp_path_factory.mktemp("l3") / "cluster.yaml"
    cfg.write_text("network: vxlan\nsubnets: [172.18.0.0/24, 172.19.0.0/24]\nnodes: 2\n")
    with cluster_context(tmp_path_factory, "-f", str(cfg)) as c:
        nodes = {n["metadata"]["name"]: n for n in c.get("nodes")["items"]}
        addrs = {name: next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
                 for name, n in nodes.items()}
        assert addrs == {"node-1": "172.18.0.11", "node-2": "172.19.0.12"}
        # the nodes are not on one L2: node-2 is reached through the router
        route = in_netns(f"pn-{c.name}-node-1", "ip", "route", "get", "172.19.0.12").stdout
        assert "via 172.18.0.1" in route
        c.podnet("apply", "-f", "-", stdin=NINE_PODS.replace("replicas: 9", "replicas: 4"))
        pods = c.running_pods("default", 4)
        assert {p["spec"]["nodeName"] for p in pods} == {"node-1", "node-2"}
        reachability(c, pods)


def test_reference_cni_plugins_run_the_pods_too(tmp_path_factory: pytest.TempPathFactory) -> None:
    with cluster_context(tmp_path_factory, "--nodes", "2", "--cni", "reference") as c:
        conflist = (c.root / c.name / "nodes" / "node-1" / "net.d" / "10-podnet.conflist").read_text()
        assert '"type": "bridge"' in conflist and '"type": "host-local"' in conflist
        c.podnet("apply", "-f", "-", stdin=NINE_PODS.replace("replicas: 9", "replicas: 4"))
        pods = c.running_pods("default", 4)
        reachability(c, pods)
        sandbox = pod_ns(c, pods[0])
        c.podnet("delete", "pod", pods[0]["metadata"]["name"])
        c.wait("pod and its sandbox gone", lambda: sandbox not in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True).stdout, 60)
