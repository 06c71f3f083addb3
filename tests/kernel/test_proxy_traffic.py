"""The service proxy with real traffic between network namespaces (root).

Topology, created once for this module and removed in ``finally``::

    ext (172.18.0.200) --veth-- node (172.18.0.11, bridge 10.244.1.1/24) --veth-- p1/p2/p3
                                 |  table ip podnet-proxy (Proxier + KernelBackend)

p1..p3 are "pods" 10.244.1.2-4 on the node's bridge (hairpin mode on, as the
CNI bridge plugin must set it), each running a small TCP+UDP server that
answers "<pod> <client ip>". Clients are short Python programs started in a
namespace with ``ip netns exec``. Nothing is created in the host namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from podnet.kernel import nft_apply
from podnet.proxy.explain import explain
from podnet.proxy.sync import Proxier
from podnet.proxy.testing import endpoint_slice, ep, port, service, slice_port

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
]

NODE_IP, EXT_IP, GW = "172.18.0.11", "172.18.0.200", "10.244.1.1"
PODS = {"p1": "10.244.1.2", "p2": "10.244.1.3", "p3": "10.244.1.4"}

SERVER = r'''
import socket, sys, threading
name = sys.argv[1]
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(128)
    while True:
        c, addr = s.accept()
        threading.Thread(target=serve, args=(c, addr), daemon=True).start()
def serve(c, addr):
    with c:
        f = c.makefile("rwb", buffering=0)
        f.write(f"{name} {addr[0]}\n".encode())
        for line in f:
            f.write(line)
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port))
    while True:
        data, addr = s.recvfrom(2048)
        s.sendto(f"{name} {addr[0]}".encode(), addr)
for p in (8080, 8081):
    threading.Thread(target=tcp, args=(p,), daemon=True).start()
threading.Thread(target=udp, args=(5353,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
'''

CLIENT = r'''
import json, socket, sys
proto, ip, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = []
for _ in range(count):
    try:
        if proto == "tcp":
            with socket.create_connection((ip, port), timeout=1.5) as s:
                out.append(s.makefile().readline().strip())
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(1.5); s.connect((ip, port)); s.send(b"hostname")
                out.append(s.recv(2048).decode())
    except ConnectionRefusedError:
        out.append("refused")
    except (socket.timeout, TimeoutError):
        out.append("timeout")
    except OSError as e:
        out.append(f"error {e.errno}")
print(json.dumps(out))
'''


@dataclass
class Net:
    prefix: str
    tmp: Path
    servers: list[subprocess.Popen[str]] = field(default_factory=list)

    def ns(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    def run(self, short: str, *cmd: str, check: bool = True) -> str:
        proc = subprocess.run(["ip", "netns", "exec", self.ns(short), *cmd],
                              capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{cmd}: {proc.stderr}")
        return proc.stdout

    def connect(self, short: str, proto: str, ip: str, prt: int, count: int = 1) -> list[str]:
        out = self.run(short, sys.executable, str(self.tmp / "client.py"),
                       proto, ip, str(prt), str(count))
        return list(json.loads(out))


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    tmp = tmp_path_factory.mktemp("proxy")
    (tmp / "server.py").write_text(SERVER)
    (tmp / "client.py").write_text(CLIENT)
    n = Net(f"pn-t{uuid.uuid4().hex[:6]}", tmp)
    made: list[str] = []
    try:
        for short in ("node", "ext", *PODS):
            _ip("netns", "add", n.ns(short))
            made.append(n.ns(short))
            _ip("-n", n.ns(short), "link", "set", "lo", "up")
        node = n.ns("node")
        n.run("node", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        _ip("-n", node, "link", "add", "pnbr0", "type", "bridge")
        _ip("-n", node, "addr", "add", f"{GW}/24", "dev", "pnbr0")
        _ip("-n", node, "link", "set", "pnbr0", "up")
        for i, (short, ip) in enumerate(PODS.items()):
            host = f"pnv{i}"
            _ip("-n", node, "link", "add", host, "type", "veth", "peer", "name", "eth0",
                "netns", n.ns(short))
            _ip("-n", node, "link", "set", host, "master", "pnbr0", "up")
            _ip("-n", node, "link", "set", host, "type", "bridge_slave", "hairpin", "on")
            _ip("-n", n.ns(short), "addr", "add", f"{ip}/24", "dev", "eth0")
            _ip("-n", n.ns(short), "link", "set", "eth0", "up")
            _ip("-n", n.ns(short), "route", "add", "default", "via", GW)
        _ip("-n", node, "link", "add", "pnext", "type", "veth", "peer", "name", "eth0",
            "netns", n.ns("ext"))
        _ip("-n", node, "addr", "add", f"{NODE_IP}/16", "dev", "pnext")
        _ip("-n", node, "link", "set", "pnext", "up")
        _ip("-n", node, "route", "add", "default", "via", EXT_IP)  # like any node's uplink
        _ip("-n", n.ns("ext"), "addr", "add", f"{EXT_IP}/16", "dev", "eth0")
        _ip("-n", n.ns("ext"), "link", "set", "eth0", "up")
        _ip("-n", n.ns("ext"), "route", "add", "10.96.0.0/12", "via", NODE_IP)
        _ip("-n", n.ns("ext"), "route", "add", "192.0.2.0/24", "via", NODE_IP)
        for short in PODS:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", n.ns(short), sys.executable, str(tmp / "server.py"),
                 short], stdout=subprocess.PIPE, text=True)
            n.servers.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield n
    finally:
        for proc in n.servers:
            proc.kill()
            proc.wait()
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def proxier(net: Net) -> Iterator[Proxier]:
    px = Proxier("node-1", [NODE_IP], netns=net.ns("node"), min_sync_period=0)
    try:
        yield px
    finally:
        nft_apply.delete_table("ip", "podnet-proxy", net.ns("node"))
        net.run("node", "conntrack", "-F", check=False)


def web(eps: list[str], *, node_of: dict[str, str] | None = None, **spec: object):
    """Service web: TCP 80->8080 (NodePort 30080), UDP 53->5353; endpoints by pod name."""
    svc = service("web", "10.96.0.5", [port(80, "TCP", "http", 8080, 30080),
                                       port(53, "UDP", "dns", 5353)], **spec)
    sl = endpoint_slice("web", [ep(PODS[p], (node_of or {}).get(p, "node-1")) for p in eps],
                        [slice_port(8080, "TCP", "http"), slice_port(5353, "UDP", "dns")])
    return [svc], [sl]


def _pods(answers: list[str]) -> Counter[str]:
    return Counter(a.split()[0] for a in answers)


def test_cluster_ip_tcp_udp_even_spread_matches_the_plan(net: Net, proxier: Proxier) -> None:
    proxier.update(*web(["p2", "p3"]))
    assert proxier.sync().mode == "full"
    answers = net.connect("p1", "tcp", "10.96.0.5", 80, 100)
    reached = _pods(answers)
    planned = explain(proxier.plan, PODS["p1"], "10.96.0.5", 80, "TCP")
    want = {name for name, ip in PODS.items() if f"{ip}:8080" in planned.dnat_targets}
    assert set(reached) == want == {"p2", "p3"}  # the differential check
    assert all(25 <= c <= 75 for c in reached.values()), reached  # even spread
    assert {a.split()[1] for a in answers} == {PODS["p1"]}  # client IP preserved
    udp = net.connect("p1", "udp", "10.96.0.5", 53, 30)
    assert set(_pods(udp)) == {"p2", "p3"}


def test_no_endpoints_rejects_tcp_and_udp(net: Net, proxier: Proxier) -> None:
    proxier.update(*web([], type="NodePort"))
    proxier.sync()
    assert net.connect("p1", "tcp", "10.96.0.5", 80) == ["refused"]
    assert net.connect("p1", "udp", "10.96.0.5", 53) == ["refused"]
    assert net.connect("ext", "tcp", NODE_IP, 30080) == ["refused"]
    assert net.connect("node", "tcp", "10.96.0.5", 80) == ["refused"]


def test_endpoints_follow_changes_incrementally(net: Net, proxier: Proxier) -> None:
    proxier.update(*web(["p2"]))
    proxier.sync()
    assert set(_pods(net.connect("p1", "tcp", "10.96.0.5", 80, 10))) == {"p2"}
    proxier.update(*web(["p2", "p3"]))
    assert proxier.sync().mode == "incremental"
    assert set(_pods(net.connect("p1", "tcp", "10.96.0.5", 80, 40))) == {"p2", "p3"}
    svcs, slices = web(["p2", "p3"])
    slices[0]["endpoints"][0]["conditions"]["ready"] = False  # p2 becomes unready
    proxier.update(svcs, slices)
    proxier.sync()
    assert set(_pods(net.connect("p1", "tcp", "10.96.0.5", 80, 20))) == {"p3"}


def test_terminating_endpoints_serve_only_when_no_ready_one_is_left(net: Net, proxier: Proxier) -> None:
    def update(p2: dict[str, bool], p3: dict[str, bool]) -> None:
        svcs, slices = web(["p2", "p3"])  # fresh objects: the proxier keeps what it was given
        slices[0]["endpoints"][0]["conditions"].update(p2)
        slices[0]["endpoints"][1]["conditions"].update(p3)
        proxier.update(svcs, slices)
        proxier.sync()

    shutting_down = {"ready": False, "serving": True, "terminating": True}
    update({}, shutting_down)  # p3 is terminating but still serving
    assert set(_pods(net.connect("p1", "tcp", "10.96.0.5", 80, 20))) == {"p2"}
    update({"ready": False, "serving": False}, shutting_down)  # no ready endpoint left
    assert set(_pods(net.connect("p1", "tcp", "10.96.0.5", 80, 20))) == {"p3"}  # KEP-1669 fallback
    update({"ready": False, "serving": False}, {**shutting_down, "serving": False})
    assert net.connect("p1", "tcp", "10.96.0.5", 80) == ["refused"]


def test_hairpin_masquerades_only_the_pod_reaching_itself(net: Net, proxier: Proxier) -> None:
    proxier.update(*web(["p2"]))
    proxier.sync()
    assert net.connect("p2", "tcp", "10.96.0.5", 80) == [f"p2 {GW}"]
    assert net.connect("p1", "tcp", "10.96.0.5", 80) == [f"p2 {PODS['p1']}"]


def test_node_port_from_outside_from_the_node_and_gone_after_delete(
    net: Net, proxier: Proxier
) -> None:
    proxier.update(*web(["p2", "p3"], type="NodePort"))
    proxier.sync()
    outside = net.connect("ext", "tcp", NODE_IP, 30080, 20)
    assert set(_pods(outside)) == {"p2", "p3"}
    assert {a.split()[1] for a in outside} == {GW}  # eTP Cluster: SNAT
    assert set(_pods(net.connect("node", "tcp", NODE_IP, 30080, 10))) <= {"p2", "p3"}
    assert _pods(net.connect("p1", "tcp", NODE_IP, 30080, 5)).total() == 5
    proxier.update([], [])
    proxier.sync()
    assert net.connect("ext", "tcp", NODE_IP, 30080) == ["refused"]


def test_external_traffic_policy_local(net: Net, proxier: Proxier) -> None:
    where = {"p2": "node-1", "p3": "node-2"}
    proxier.update(*web(["p2", "p3"], node_of=where, type="NodePort",
                        externalTrafficPolicy="Local"))
    proxier.sync()
    outside = net.connect("ext", "tcp", NODE_IP, 30080, 10)
    assert outside == [f"p2 {EXT_IP}"] * 10  # local endpoint only, client IP kept
    assert set(_pods(net.connect("p1", "tcp", NODE_IP, 30080, 30))) == {"p2", "p3"}
    proxier.update(*web(["p3"], node_of=where, type="NodePort", externalTrafficPolicy="Local"))
    proxier.sync()
    assert net.connect("ext", "tcp", NODE_IP, 30080) == ["timeout"]  # no local endpoint: drop


def test_internal_traffic_policy_local(net: Net, proxier: Proxier) -> None:
    proxier.update(*web(["p2", "p3"], node_of={"p3": "node-2"}, internalTrafficPolicy="Local"))
    proxier.sync()
    assert set(_pods(net.connect("p1", "tcp", "10.96.0.5", 80, 15))) == {"p2"}


def test_external_ips_and_lb_source_ranges(net: Net, proxier: Proxier) -> None:
    spec = {"type": "LoadBalancer", "externalIPs": ["192.0.2.10"], "lb_ips": ["10.96.200.1"]}
    proxier.update(*web(["p2"], loadBalancerSourceRanges=[f"{EXT_IP}/32"], **spec))
    proxier.sync()
    assert net.connect("ext", "tcp", "192.0.2.10", 80) == [f"p2 {GW}"]
    assert _pods(net.connect("ext", "tcp", "10.96.200.1", 80)) == {"p2": 1}
    proxier.update(*web(["p2"], loadBalancerSourceRanges=["10.9.0.0/16"], **spec))
    proxier.sync()
    assert net.connect("ext", "tcp", "10.96.200.1", 80) == ["timeout"]
    assert _pods(net.connect("ext", "tcp", "192.0.2.10", 80)) == {"p2": 1}  # not restricted


def test_session_affinity_sticks_and_switching_converges(net: Net, proxier: Proxier) -> None:
    affinity = {"sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 2}}}
    proxier.update(*web(["p1", "p2", "p3"], **affinity))
    proxier.sync()
    assert len(set(_pods(net.connect("ext", "tcp", "10.96.0.5", 80, 15)))) == 1
    proxier.update(*web(["p1", "p2", "p3"]))
    proxier.sync()
    assert len(set(_pods(net.connect("ext", "tcp", "10.96.0.5", 80, 30)))) > 1
    proxier.update(*web(["p1", "p2", "p3"], **affinity))
    proxier.sync()
    assert len(set(_pods(net.connect("ext", "tcp", "10.96.0.5", 80, 15)))) == 1
    time.sleep(2.5)
    listed = nft_apply.list_json("set", "ip", "podnet-proxy", "affinity", netns=net.ns("node"))
    assert not [s for s in listed if s.get("set", {}).get("elem")]  # the record expired


def test_removed_udp_endpoint_flows_are_deleted(net: Net, proxier: Proxier) -> None:
    proxier.update(*web(["p2"]))
    proxier.sync()
    client = subprocess.Popen(
        ["ip", "netns", "exec", net.ns("p1"), sys.executable, "-c",
         "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
         "s.settimeout(2);s.connect(('10.96.0.5',53))\n"
         "for line in sys.stdin:\n s.send(b'x');print(s.recv(99).decode(),flush=True)\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write("go\n")
        client.stdin.flush()
        assert client.stdout.readline().split()[0] == "p2"
        proxier.update(*web(["p3"]))
        proxier.sync()
        client.stdin.write("go\n")
        client.stdin.flush()
        assert client.stdout.readline().split()[0] == "p3"  # same socket, new backend
    finally:
        client.kill()
        client.wait()


def test_deleted_table_is_rebuilt_without_breaking_connections(
    net: Net, proxier: Proxier
) -> None:
    proxier.update(*web(["p2"]))
    proxier.sync()
    client = subprocess.Popen(
        ["ip", "netns", "exec", net.ns("p1"), sys.executable, "-c",
         "import socket,sys\nc=socket.create_connection(('10.96.0.5',80),timeout=2)\n"
         "f=c.makefile('rw')\nprint(f.readline().strip(),flush=True)\n"
         "for line in sys.stdin:\n f.write(line);f.flush();print(f.readline().strip(),flush=True)"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdin is not None and client.stdout is not None
        assert client.stdout.readline().split()[0] == "p2"
        net.run("node", "nft", "delete", "table", "ip", "podnet-proxy")
        assert proxier.check() is True
        client.stdin.write("still there\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "still there"
        assert proxier.check() is False
        assert _pods(net.connect("p1", "tcp", "10.96.0.5", 80)) == {"p2": 1}
    finally:
        client.kill()
        client.wait()
