"""References for ``cluster_bench.py``, built with plain ``ip`` commands (root).

* ``ip_topology``: the namespaces, veths, addresses and routes of a cluster's
  topology (``podnet.cluster.topology``'s own command lists), run with
  ``ip netns add`` and one ``ip -n NS -batch`` per namespace: what ``podnet up``
  does to the kernel, without processes, nftables or readiness;
* ``ip_pods``: N pod namespaces spread over node namespaces, each with a veth on
  its node's bridge, an address, lo up and a default route: what N CNI ADDs do to
  the kernel;
* ``bare_veth``: two plain namespaces joined by one veth pair (the iperf3 reference).

Every namespace made here starts with ``pn-r<random>-`` and is removed by ``cleanup``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import subprocess
import time
from dataclasses import dataclass, field

from podnet.api.config import ClusterConfig
from podnet.cluster.topology import external_commands, node_commands, plan, underlay_commands


def ip(*args: str, stdin: str | None = None) -> None:
    subprocess.run(["ip", *args], input=stdin, text=True, check=True, capture_output=True)


@dataclass
class Refs:
    prefix: str = field(default_factory=lambda: f"pn-r{secrets.token_hex(3)}-")
    made: list[str] = field(default_factory=list)

    def add_netns(self, names: list[str]) -> None:
        self.made += names
        ip("-batch", "-", stdin="".join(f"netns add {n}\n" for n in names))

    def cleanup(self) -> None:
        names = [n for n in self.made if n.startswith(self.prefix)]
        if names:
            subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in names),
                           text=True, capture_output=True)
        self.made.clear()

    def ip_topology(self, nodes: int, network: str) -> float:
        """Seconds to build ``nodes`` nodes' namespaces and links with ``ip``."""
        name = f"{self.prefix.removeprefix('pn-')}t{secrets.token_hex(1)}"  # namespaces start with prefix
        topo = plan(ClusterConfig(name=name, network=network).with_nodes(nodes))
        t0 = time.perf_counter()
        self.add_netns(topo.namespaces)
        ip("-n", topo.underlay_ns, "-batch", "-", stdin="\n".join(underlay_commands(topo)) + "\n")
        ip("-n", topo.external_ns, "-batch", "-", stdin="\n".join(external_commands(topo)) + "\n")
        for n in topo.nodes:
            ip("-n", n.netns, "-batch", "-", stdin="\n".join(node_commands(topo, n)) + "\n")
        return time.perf_counter() - t0

    def ip_pods(self, pods: int, nodes: int) -> float:
        """Seconds to create ``pods`` pod namespaces with a bridged veth each, over ``nodes`` nodes."""
        node_ns = [f"{self.prefix}n{i}" for i in range(nodes)]
        pod_ns = [f"{self.prefix}p{i}" for i in range(pods)]
        t0 = time.perf_counter()
        self.add_netns(node_ns)
        self.add_netns(pod_ns)
        per_node: list[list[str]] = [["link add br0 type bridge", "addr add 10.250.0.1/22 dev br0",
                                      "link set br0 up"] for _ in node_ns]
        for i, p in enumerate(pod_ns):
            per_node[i % nodes] += [f"link add v{i} type veth peer name eth0 netns {p}",
                                    f"link set v{i} master br0 up"]
        for ns, cmds in zip(node_ns, per_node, strict=True):
            ip("-n", ns, "-batch", "-", stdin="\n".join(cmds) + "\n")
        net = ipaddress.ip_network("10.250.0.0/22")
        for i, p in enumerate(pod_ns):
            addr = net.network_address + 2 + i // nodes
            ip("-n", p, "-batch", "-", stdin=f"link set lo up\naddr add {addr}/22 dev eth0\n"
               "link set eth0 up\nroute add default via 10.250.0.1\n")
        return time.perf_counter() - t0

    def bare_veth(self) -> tuple[str, str, str]:
        """Two namespaces joined by a veth pair; returns (client ns, server ns, server ip)."""
        a, b = f"{self.prefix}va", f"{self.prefix}vb"
        self.add_netns([a, b])
        ip("-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b)
        for ns, addr in ((a, "10.251.0.1/24"), (b, "10.251.0.2/24")):
            ip("-n", ns, "-batch", "-", stdin=f"link set lo up\naddr add {addr} dev eth0\nlink set eth0 up\n")
        return a, b, "10.251.0.2"


def iperf(client_ns: str, server_ns: str, server_ip: str, seconds: float) -> float:
    """TCP throughput in Gbit/s from client_ns to server_ns (iperf3, one stream)."""
    srv = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-p", "5299"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import json

        for _ in range(50):
            r = subprocess.run(["ip", "netns", "exec", client_ns, "iperf3", "-c", server_ip, "-p", "5299",
                                "-t", str(seconds), "-J"], capture_output=True, text=True)
            with contextlib.suppress(ValueError, KeyError):
                if r.returncode == 0:
                    return float(json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e9
            time.sleep(0.1)  # server not listening yet
        raise RuntimeError(f"iperf3 {client_ns} -> {server_ip} failed: {r.stdout[-500:]} {r.stderr[-500:]}")
    finally:
        srv.kill()
        srv.wait()


def meminfo() -> dict[str, int]:
    """/proc/meminfo in kB."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])
    return out
