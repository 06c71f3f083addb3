"""Services in a real 3-node cluster: the node agents' nftables proxy with real traffic.

One flat cluster for the module. Pods are bare and pinned to nodes (``nodeName``)
so locality is known: web-1 (node-1), web-2 (node-2), web-3 (node-3, its port
named ``http`` is 9090 where the others use 8080), client (node-1), local-2
(node-2), u-1/u-2 (UDP), grow-* (readiness toggled through a marker file).
Clients run with ``ip netns exec`` (a short Python program making N fresh
connections, or curl); one check goes through ``podnet exec``.

LoadBalancer IPs come from the LoadBalancer controller's pool. For traffic from
the external namespace the test installs what an upstream router would have:
an ECMP route for the pool (and one for the externalIP) via the node IPs
(docs/proxy.md, "LoadBalancer IPs").
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from clusterlib import Cluster, make_cluster

pytestmark = [pytest.mark.root, pytest.mark.slow]

NODE_IPS = {"node-1": "172.18.0.11", "node-2": "172.18.0.12", "node-3": "172.18.0.13"}
EXTERNAL_IP = "172.18.0.2"
EXT_SERVICE_IP = "172.18.254.10"  # spec.externalIPs of Service "ext"
WEB = {"web-1", "web-2", "web-3"}

CLIENT = r'''
import json, socket, sys
proto, ip, port, n, what = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
out = []
for _ in range(n):
    try:
        if proto == "tcp":
            with socket.create_connection((ip, port), timeout=1.5) as s:
                s.sendall(f"GET /{what} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            out.append(data.split(b"\r\n\r\n", 1)[1].decode())
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(1.5); s.connect((ip, port)); s.send(what.encode())
                out.append(s.recv(2048).decode())
    except OSError as e:
        out.append(f"<{type(e).__name__}>")
print(json.dumps(out))
'''

# One UDP socket asking "hostname" every 0.2 s; stops once a second backend answered.
UDP_STICKY_CLIENT = r'''
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
s.connect((sys.argv[1], int(sys.argv[2])))
seen = []
deadline = time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    s.send(b"hostname")
    try:
        got = s.recv(2048).decode()
    except OSError:
        got = "<timeout>"
    print(got, flush=True)
    if not got.startswith("<"):
        if seen and got != seen[0]:
            break
        seen.append(got)
    time.sleep(0.2)
'''


def pod(name: str, node: str, labels: dict[str, str], ports: list[dict[str, Any]],
        probe: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "s", "image": "podnet.dev/netexec", "ports": ports}
    if probe:
        container["readinessProbe"] = {"exec": {"command": ["sh", "-c", probe]},
                                       "periodSeconds": 1, "failureThreshold": 1}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": node, "containers": [container]}}


def svc(name: str, selector: dict[str, str] | None, ports: list[dict[str, Any]],
        labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ports": ports, **spec}
    if selector is not None:
        body["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": labels or {}}, "spec": body}


HTTP = {"name": "http", "containerPort": 8080}
DNS = {"name": "dns", "containerPort": 5353, "protocol": "UDP"}
TO_HTTP = [{"name": "http", "port": 80, "targetPort": "http"}]


def grow_pod(c: Cluster, name: str, node: str) -> dict[str, Any]:
    return pod(name, node, {"app": "grow"}, [HTTP], probe=f"test ! -e {marker(c, name)}")


def marker(c: Cluster, name: str) -> Path:
    return c.root / f"unready-{name}"


def manifests(c: Cluster) -> list[dict[str, Any]]:
    return [
        pod("web-1", "node-1", {"app": "web", "hp": "yes"}, [HTTP, DNS]),
        pod("web-2", "node-2", {"app": "web"}, [HTTP, DNS]),
        pod("web-3", "node-3", {"app": "web"}, [{"name": "http", "containerPort": 9090}, DNS]),
        pod("client", "node-1", {"app": "client"}, [HTTP]),
        pod("local-2", "node-2", {"app": "local"}, [HTTP]),
        pod("u-1", "node-2", {"app": "u"}, [DNS]),
        pod("u-2", "node-3", {"app": "u"}, [DNS]),
        grow_pod(c, "grow-1", "node-2"),
        svc("web", {"app": "web"}, [*TO_HTTP, {"name": "alt", "port": 81, "targetPort": "http"},
                                    {"name": "dns", "port": 53, "protocol": "UDP",
                                     "targetPort": "dns"}]),
        svc("empty", {"app": "nothing"}, [{"name": "http", "port": 80, "targetPort": 8080},
                                          {"name": "dns", "port": 53, "protocol": "UDP"}]),
        svc("hp", {"hp": "yes"}, TO_HTTP),
        svc("sticky", {"app": "web"}, TO_HTTP, sessionAffinity="ClientIP",
            sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}),
        svc("np", {"app": "web"}, [{"port": 80, "targetPort": "http", "nodePort": 30080}],
            type="NodePort"),
        svc("lb", {"app": "web"}, TO_HTTP, type="LoadBalancer"),
        svc("lbsr", {"app": "web"}, TO_HTTP, type="LoadBalancer",
            loadBalancerSourceRanges=[f"{EXTERNAL_IP}/32"]),
        svc("local", {"app": "local"}, [{"port": 80, "targetPort": 8080, "nodePort": 30090}],
            type="LoadBalancer", externalTrafficPolicy="Local"),
        svc("itp", {"app": "web"}, TO_HTTP, internalTrafficPolicy="Local"),
        svc("ext", {"app": "web"}, TO_HTTP, externalIPs=[EXT_SERVICE_IP]),
        svc("other", {"app": "web"}, TO_HTTP,
            labels={"service.kubernetes.io/service-proxy-name": "someone-else"}),
        svc("u", {"app": "u"}, [{"port": 53, "protocol": "UDP", "targetPort": "dns"}]),
        svc("grow", {"app": "grow"}, TO_HTTP),
    ]


def apply(c: Cluster, *objs: dict[str, Any]) -> None:
    c.podnet("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                   "items": list(objs)}))


def run(ns: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=timeout)


def requests(ns: str, ip: str, port: int, n: int = 1, what: str = "hostname",
             proto: str = "tcp") -> list[str]:
    """``n`` fresh connections (or UDP sockets) from namespace ``ns``; answers or <Error>."""
    r = run(ns, sys.executable, "-I", "-S", "-c", CLIENT, proto, ip, str(port), str(n), what)
    assert r.returncode == 0, r.stderr
    out: list[str] = json.loads(r.stdout)
    return out


def curl(ns: str, url: str, max_time: float = 1.5) -> tuple[int, str]:
    r = run(ns, "curl", "-s", "--max-time", str(max_time), url)
    return r.returncode, r.stdout


class World:
    def __init__(self, c: Cluster) -> None:
        self.c = c
        self.services: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, dict[str, Any]] = {}

    def ns(self, pod: str) -> str:
        return f"pn-{self.c.name}-default.{pod}"

    def node_ns(self, node: str) -> str:
        return f"pn-{self.c.name}-{node}"

    @property
    def external(self) -> str:
        return f"pn-{self.c.name}-external"

    def refresh(self) -> None:
        self.services = {s["metadata"]["name"]: s for s in self.c.get("services")["items"]}
        self.pods = {p["metadata"]["name"]: p for p in self.c.get("pods")["items"]}

    def ip(self, service: str) -> str:
        return str(self.services[service]["spec"]["clusterIP"])

    def lb_ip(self, service: str) -> str:
        def assigned() -> str | None:
            self.refresh()
            ingress = ((self.services[service].get("status") or {}).get("loadBalancer")
                       or {}).get("ingress") or []
            return str(ingress[0]["ip"]) if ingress else None
        got: str = self.c.wait(f"LoadBalancer IP of {service}", assigned, 30)
        return got

    def pod_ip(self, pod: str) -> str:
        return str(self.pods[pod]["status"]["podIP"])

    def eventually(self, what: str, fn: Any, timeout: float = 20) -> Any:
        return self.c.wait(what, fn, timeout)

    def programmed(self, node: str = "node-1") -> set[str]:
        """Frontend keys ("ip . proto . port") in the node's proxy table."""
        r = run(self.node_ns(node), "nft", "-j", "list", "table", "ip", "podnet-proxy")
        assert r.returncode == 0, r.stderr
        keys: set[str] = set()
        for item in json.loads(r.stdout)["nftables"]:
            m = item.get("map")
            if not m or m["name"] not in ("service-ips", "no-endpoints"):
                continue
            for el in m.get("elem") or []:
                concat = el[0]["concat"]
                keys.add(" . ".join(str(x) for x in concat))
        return keys


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    cluster = make_cluster(tmp_path_factory, "--nodes", "3", "--network", "flat")
    assert isinstance(cluster, Generator)
    c = next(cluster)
    try:
        apply(c, *manifests(c))
        w = World(c)

        def all_running() -> bool:
            w.refresh()
            return len(w.pods) >= 8 and all(
                (p.get("status") or {}).get("phase") == "Running"
                and (p.get("status") or {}).get("podIP") for p in w.pods.values())
        w.eventually("pods running", all_running, 90)
        # `podnet up` routes the LB pool from the outside world to the nodes (ECMP); an
        # externalIP is the user's own address: route it the way an upstream router would
        assert "172.18.255.200/29" in run(w.external, "ip", "route").stdout
        hops = [a for ip in NODE_IPS.values() for a in ("nexthop", "via", ip)]
        r = run(w.external, "ip", "route", "replace", f"{EXT_SERVICE_IP}/32", *hops)
        assert r.returncode == 0, r.stderr
        w.eventually("web service answers", lambda: set(
            requests(w.ns("client"), w.ip("web"), 80, 6)) <= WEB)
        yield w
    finally:
        cluster.close()  # podnet down, and no namespace left behind


def test_cluster_ip_tcp_udp_several_ports_and_named_target_ports(world: World) -> None:
    w = world
    got = Counter(requests(w.ns("client"), w.ip("web"), 80, 60))
    assert set(got) == WEB and min(got.values()) >= 6, got  # even spread: each gets some
    alt = Counter(requests(w.ns("client"), w.ip("web"), 81, 30))
    assert set(alt) == WEB, alt  # web-3's "http" is 9090: resolved per pod
    udp = Counter(requests(w.ns("client"), w.ip("web"), 53, 30, proto="udp"))
    assert set(udp) == WEB, udp
    echo = requests(w.ns("client"), w.ip("web"), 53, 1, "echo hello", proto="udp")
    assert echo == ["hello"]


def test_client_ip_preserved_and_hairpin_masqueraded(world: World) -> None:
    w = world
    client, web1 = w.pod_ip("client"), w.pod_ip("web-1")
    seen = {a.rsplit(":", 1)[0] for a in requests(w.ns("client"), w.ip("web"), 80, 12, "clientip")}
    assert seen == {client}
    # web-1 through the Service that selects only itself: masqueraded (to its bridge address)
    hairpin = {a.rsplit(":", 1)[0] for a in requests(w.ns("web-1"), w.ip("hp"), 80, 4, "clientip")}
    assert hairpin == {"10.244.1.1"}
    # through a Service with other endpoints too: only the self-hit is masqueraded
    mixed = Counter(a.rsplit(":", 1)[0]
                    for a in requests(w.ns("web-1"), w.ip("web"), 80, 30, "clientip"))
    assert set(mixed) == {web1, "10.244.1.1"}, mixed
    # and the same through `podnet exec` (the way a user runs it)
    r = w.c.exec("client", "curl", "-s", "--max-time", "3", f"http://{w.ip('hp')}/clientip")
    assert r.stdout.rsplit(":", 1)[0] == client


def test_service_without_endpoints_rejects_at_once(world: World) -> None:
    w = world
    code, _ = curl(w.ns("client"), f"http://{w.ip('empty')}/", max_time=5)
    assert code == 7  # connection refused (a timeout would be 28)
    code, _ = curl(w.node_ns("node-2"), f"http://{w.ip('empty')}/", max_time=5)
    assert code == 7
    assert requests(w.ns("client"), w.ip("empty"), 53, 1, proto="udp") == ["<ConnectionRefusedError>"]


def test_session_affinity_client_ip_and_switching(world: World) -> None:
    w = world

    def backends() -> set[str]:
        return set(requests(w.ns("client"), w.ip("sticky"), 80, 15))

    assert len(backends()) == 1  # 15 in a row, the same backend
    apply(w.c, svc("sticky", {"app": "web"}, TO_HTTP, sessionAffinity="None"))
    w.eventually("affinity off", lambda: len(backends()) > 1)
    apply(w.c, svc("sticky", {"app": "web"}, TO_HTTP, sessionAffinity="ClientIP",
                   sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}))
    w.eventually("affinity on again", lambda: len(backends()) == 1)


def test_node_port_on_every_node_from_pods_nodes_and_outside(world: World) -> None:
    w = world
    sources = [w.ns("client"), w.ns("web-2"), w.external, *(w.node_ns(n) for n in NODE_IPS)]
    failures = []
    for src in sources:
        for node_ip in NODE_IPS.values():
            got = set(requests(src, node_ip, 30080, 6))
            if not got <= WEB:
                failures.append(f"{src} -> {node_ip}:30080: {got}")
    assert not failures, failures
    # from outside with eTP Cluster: SNATed to the node that was hit (or its bridge address)
    client_ips = {a.rsplit(":", 1)[0] for a in requests(w.external, NODE_IPS["node-3"], 30080, 9,
                                                        "clientip")}
    assert client_ips <= {NODE_IPS["node-3"], "10.244.3.1"}, client_ips
    w.c.podnet("delete", "service", "np")
    w.eventually("NodePort gone", lambda: all(
        curl(w.external, f"http://{ip}:30080/hostname")[0] != 0 for ip in NODE_IPS.values()))


def test_load_balancer_ip_assigned_and_reachable(world: World) -> None:
    w = world
    lb_ip = w.lb_ip("lb")
    assert lb_ip.startswith("172.18.255.")
    for src in (w.ns("client"), w.node_ns("node-3"), w.external):
        assert set(requests(src, lb_ip, 80, 6)) <= WEB, src
    # loadBalancerSourceRanges: only the external namespace's address may connect
    sr_ip = w.lb_ip("lbsr")
    assert sr_ip != lb_ip
    assert set(requests(w.external, sr_ip, 80, 4)) <= WEB
    assert requests(w.ns("client"), sr_ip, 80, 1) == ["<TimeoutError>"]
    assert requests(w.node_ns("node-2"), sr_ip, 80, 1) == ["<TimeoutError>"]


def test_external_ips(world: World) -> None:
    w = world
    for src in (w.ns("client"), w.external, w.node_ns("node-2")):
        assert set(requests(src, EXT_SERVICE_IP, 80, 6)) <= WEB, src


def test_external_traffic_policy_local_and_health_check_node_port(world: World) -> None:
    w = world
    hc = int(w.services["local"]["spec"]["healthCheckNodePort"])
    # node-2 has the only endpoint: the client IP is preserved from outside
    seen = requests(w.external, NODE_IPS["node-2"], 30090, 3, "clientip")
    assert {a.rsplit(":", 1)[0] for a in seen} == {EXTERNAL_IP}, seen
    # no local endpoint: no answer from node-1 / node-3 for outside clients
    for node in ("node-1", "node-3"):
        assert requests(w.external, NODE_IPS[node], 30090, 1) == ["<TimeoutError>"], node
    # pods still reach it through any node (kube-proxy's short-circuit for cluster traffic)
    assert requests(w.ns("client"), NODE_IPS["node-1"], 30090, 2) == ["local-2"] * 2
    for node, ip in NODE_IPS.items():
        r = run(w.external, "curl", "-s", "-o", "/dev/stderr", "-w", "%{http_code}",
                "--max-time", "3", f"http://{ip}:{hc}/")
        body = json.loads(r.stderr)
        if node == "node-2":
            assert (r.stdout, body["localEndpoints"]) == ("200", 1)
        else:
            assert (r.stdout, body["localEndpoints"]) == ("503", 0)
        assert body["service"] == {"namespace": "default", "name": "local"}


def test_internal_traffic_policy_local(world: World) -> None:
    w = world
    assert set(requests(w.ns("client"), w.ip("itp"), 80, 12)) == {"web-1"}
    assert set(requests(w.ns("u-2"), w.ip("itp"), 80, 12)) == {"web-3"}


def test_service_proxy_name_label_and_headless_get_no_rules(world: World) -> None:
    w = world
    other = w.ip("other")
    keys = w.programmed()
    assert not any(k.startswith(f"{other} ") for k in keys)
    assert requests(w.ns("client"), other, 80, 1) == ["<TimeoutError>"]
    assert any(k.startswith(f"{w.ip('web')} ") for k in keys)
    apply(w.c, svc("headless", {"app": "web"}, TO_HTTP, clusterIP="None"),
          svc("witness", {"app": "web"}, TO_HTTP))
    w.refresh()
    witness = w.ip("witness")

    def witness_programmed() -> set[str] | None:
        now = w.programmed()
        return now if any(k.startswith(f"{witness} ") for k in now) else None
    after = w.eventually("witness programmed", witness_programmed)
    assert after - keys == {f"{witness} . tcp . 80"}  # the headless Service added nothing


def test_endpoints_follow_pods_added_removed_and_unready(world: World) -> None:
    w = world
    ip = w.ip("grow")

    def answers(want: set[str]) -> Any:
        return lambda: set(requests(w.ns("client"), ip, 80, 12)) == want

    w.eventually("grow-1", answers({"grow-1"}))
    apply(w.c, grow_pod(w.c, "grow-2", "node-3"), grow_pod(w.c, "grow-3", "node-1"))
    w.eventually("added pods", answers({"grow-1", "grow-2", "grow-3"}), 40)
    marker(w.c, "grow-1").touch()
    w.eventually("unready pod leaves", answers({"grow-2", "grow-3"}))
    w.c.podnet("delete", "pod", "grow-2", "grow-3")
    w.eventually("removed pods leave: nothing ready, reject",
                 lambda: curl(w.ns("client"), f"http://{ip}/hostname", 5)[0] == 7, 40)
    marker(w.c, "grow-1").unlink()
    w.eventually("ready again", answers({"grow-1"}))


def test_udp_client_moves_on_after_its_endpoint_is_removed(world: World) -> None:
    w = world
    proc = subprocess.Popen(
        ["ip", "netns", "exec", w.ns("client"), sys.executable, "-I", "-S", "-c",
         UDP_STICKY_CLIENT, w.ip("u"), "53", "25"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first in ("u-1", "u-2"), first
        # the pod keeps running and answering: only its endpoint goes away
        w.c.podnet("label", "pod", first, "app=moved", "--overwrite")
        rest = proc.stdout.read().split()
        proc.wait(30)
    finally:
        proc.kill()
    other = ({"u-1", "u-2"} - {first}).pop()
    assert rest and rest[-1] == other, rest  # the same socket now reaches the other pod
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # and stays there
        if set(requests(w.ns("client"), w.ip("u"), 53, 6, proto="udp")) == {other}:
            break
    else:
        raise AssertionError("UDP service still reaches the removed endpoint")
