"""Interop, both directions: the same checks for the reference bridge and podnet-bridge,
podnet-bridge chained with the reference portmap, and podnet's invoker running the
reference bridge + host-local + portmap from one conflist."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import pytest

from conftest import REFERENCE_DIR, CniNode
from podnet.cni.conflist import parse_conflist
from podnet.cni.errors import CniError
from podnet.cni.invoker import CniInvoker, RuntimeConf
from podnet.cni.paths import cni_path

pytestmark = pytest.mark.root

PAIRS = {"reference": ("bridge", "host-local"), "podnet": ("podnet-bridge", "podnet-host-local")}


def assert_attached(node: CniNode, pod: str, result: dict[str, Any], version: str) -> str:
    """What any bridge plugin's ADD must have done; returns the pod IP."""
    assert result["cniVersion"] == version
    ifaces = result["interfaces"]
    assert ifaces[0]["name"] == node.bridge
    assert [i.get("sandbox", "") for i in ifaces] == ["", "", pod]
    assert ifaces[2]["name"] == "eth0"
    (ip,) = result["ips"]
    assert ip["interface"] == 2 and ip["gateway"] == node.prefix(1)
    addr = ip["address"].split("/")[0]
    assert ip["address"].endswith("/24") and addr.startswith(node.prefix(0)[:-1])
    assert {"dst": "10.250.0.0/16"} in [{k: v for k, v in r.items() if k == "dst"}
                                        for r in result["routes"]]
    pod_links = {link["ifname"]: link for link in node.links(pod)}
    assert pod_links["eth0"]["address"] == ifaces[2]["mac"]
    assert addr in node.sh("ip", "-4", "addr", "show", "eth0", ns=pod)
    assert "10.250.0.0/16 via " + node.prefix(1) in node.sh("ip", "route", ns=pod)
    node_links = {link["ifname"]: link for link in node.links()}
    assert node_links[ifaces[1]["name"]]["master"] == node.bridge
    assert node.prefix(1) + "/24" in node.sh("ip", "-4", "addr", "show", node.bridge)
    subprocess.run(["ip", "netns", "exec", node.ns, "ping", "-c1", "-W2", addr], check=True,
                   capture_output=True)
    return addr


@pytest.mark.parametrize("impl", ["reference", "podnet"])
def test_same_checks_for_reference_and_podnet(cni_node: CniNode, impl: str) -> None:
    bridge, ipam = PAIRS[impl]
    conf = cni_node.config("1.0.0", bridge, ipam)
    pod = cni_node.pod()
    rc, res = cni_node.run("ADD", conf, "c1", pod)
    assert rc == 0, res
    assert res is not None
    assert_attached(cni_node, pod, res, "1.0.0")
    rc, out = cni_node.run("CHECK", dict(conf, prevResult=res), "c1", pod)
    assert (rc, out) == (0, None)
    assert len(cni_node.leases()) == 1
    assert cni_node.run("DEL", dict(conf, prevResult=res), "c1", pod) == (0, None)
    assert cni_node.run("DEL", conf, "c1", pod) == (0, None)
    assert cni_node.run("DEL", conf, "c1", "") == (0, None)
    assert cni_node.leases() == []
    assert [i for i in cni_node.links() if i.get("master") == cni_node.bridge] == []
    assert "eth0" not in cni_node.sh("ip", "link", ns=pod)


def test_podnet_bridge_chained_with_reference_portmap(cni_node: CniNode) -> None:
    pod = cni_node.pod()
    net = parse_conflist({"cniVersion": "1.0.0", "name": f"net-{cni_node.bridge}", "plugins": [
        {k: v for k, v in cni_node.config("1.0.0").items() if k not in ("cniVersion", "name")},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ]})
    _port_round_trip(cni_node, net, pod, "podnet-bridge")


def test_invoker_runs_reference_plugins(cni_node: CniNode) -> None:
    pod = cni_node.pod()
    net = parse_conflist({"cniVersion": "1.0.0", "name": f"net-{cni_node.bridge}", "plugins": [
        {k: v for k, v in cni_node.config("1.0.0", "bridge", "host-local").items()
         if k not in ("cniVersion", "name")},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ]})
    _port_round_trip(cni_node, net, pod, "bridge")


def _port_round_trip(node: CniNode, net: Any, pod: str, bridge_type: str) -> None:
    invoker = CniInvoker([cni_path(), REFERENCE_DIR], node.cache_dir, netns=node.ns)
    rt = RuntimeConf("c1", pod, "eth0", capability_args={
        "portMappings": [{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}]})
    result = invoker.add(net, rt)
    assert_attached(node, pod, result, "1.0.0")
    cached = invoker.cached(net.name, "c1", "eth0")
    assert cached is not None and cached["result"] == result
    assert "18080" in node.sh("iptables-save", "-t", "nat")
    server = subprocess.Popen(
        ["ip", "netns", "exec", os.path.basename(pod), "python3", "-c",
         "import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
         "s.bind(('0.0.0.0',8080));s.listen();c,_=s.accept();c.sendall(b'hello-'+c.recv(9));"
         "c.close()"])
    try:
        reply, err = b"", ""
        for _ in range(50):  # wait for the server in the pod to listen
            proc = subprocess.run(
                ["ip", "netns", "exec", node.ns, "python3", "-c",
                 f"import socket;c=socket.create_connection(('{node.prefix(1)}',18080),2);"
                 "c.sendall(b'portmap');print(c.recv(64).decode())"],
                capture_output=True, text=True)
            if proc.returncode == 0:
                reply = proc.stdout.encode()
                break
            err = proc.stderr[-200:]
            time.sleep(0.1)
        assert reply.strip() == b"hello-portmap", err
    finally:
        server.kill()
        server.wait()
    try:
        invoker.check(net, rt)
    except CniError as err:
        # The reference portmap 1.1.1 CHECK always looks for its ip6tables chain, which it
        # only creates for IPv6 pods: a known bug of that plugin, not of the chain.
        assert "ipv6 dnat" in err.msg + err.details, err
        invoker.check(parse_conflist(dict(net.raw, plugins=net.raw["plugins"][:1])), rt)
    invoker.delete(net, rt)
    assert invoker.cached(net.name, "c1", "eth0") is None
    assert "18080" not in node.sh("iptables-save", "-t", "nat")
    assert node.leases() == []
    invoker.delete(net, rt)  # DEL is idempotent through the invoker too
    assert result["interfaces"][0]["name"] == node.bridge, bridge_type
