"""The shape of a cluster's network, as plain data, and the ip commands that build it.

Pure: from a ClusterConfig to namespaces, links, addresses and routes. The
names are predictable (Mininet-style) so a learner can find every piece:

* ``pn-<cluster>-underlay``: the physical L2 network, a bridge ``pnbr0``;
* ``pn-<cluster>-<node>``: one per node, ``eth0`` on the underlay (veth
  ``pnu<i>`` on the underlay side), pod bridge ``cni0`` made by the CNI plugin;
* ``pn-<cluster>-external``: "the internet", ``eth0`` on the underlay.

Pod networks between nodes: ``flat`` (host-gw: each node routes the other
nodes' pod ranges via their node IPs) or ``vxlan`` (flannel's model: device
``pnvx`` VNI 1, UDP 8472, MTU 1450, address ``<podCIDR>.0/32``; per remote node an
onlink route via its VTEP address, a permanent neighbour entry and an FDB entry).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from podnet.api.config import ClusterConfig, NodeConfig

UNDERLAY_BRIDGE = "pnbr0"
VXLAN_DEV = "pnvx"
VXLAN_VNI = 1
VXLAN_PORT = 8472
VXLAN_MTU = 1450


@dataclass(frozen=True)
class NodeNet:
    index: int
    name: str
    netns: str
    ip: str
    prefixlen: int
    pod_cidr: str
    underlay_port: str
    vtep_mac: str

    @property
    def vtep_ip(self) -> str:
        """The VXLAN device's address: the pod range's network address (flannel)."""
        return str(ipaddress.ip_network(self.pod_cidr).network_address)


@dataclass(frozen=True)
class Topology:
    cluster: str
    network: str
    pod_cidr: str
    service_cidr: str
    underlay_ns: str
    external_ns: str
    external_ip: str
    nodes: tuple[NodeNet, ...]

    @property
    def namespaces(self) -> list[str]:
        return [self.underlay_ns, *(n.netns for n in self.nodes), self.external_ns]

    def node(self, name: str) -> NodeNet:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def _mac(cluster: str, node: str) -> str:
    h = hashlib.sha256(f"{cluster}/{node}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in h[:5])


def netns_prefix(cluster: str) -> str:
    """Every namespace of a cluster starts with this: ``pn-<cluster>-``."""
    return f"pn-{cluster}-"


def plan(config: ClusterConfig) -> Topology:
    net = ipaddress.ip_network(config.node_cidr)
    nodes = tuple(
        _node(config, i, n, net.prefixlen) for i, n in enumerate(config.nodes, start=1)
    )
    return Topology(
        cluster=config.name,
        network=config.network,
        pod_cidr=config.pod_cidr,
        service_cidr=config.service_cidr,
        underlay_ns=f"{netns_prefix(config.name)}underlay",
        external_ns=f"{netns_prefix(config.name)}external",
        external_ip=str(net.network_address + 2),
        nodes=nodes,
    )


def _node(config: ClusterConfig, index: int, n: NodeConfig, prefixlen: int) -> NodeNet:
    return NodeNet(index, n.name, f"{netns_prefix(config.name)}{n.name}", n.ip, prefixlen,
                   n.pod_cidr, f"pnu{index}", _mac(config.name, n.name))


def underlay_commands(t: Topology) -> list[str]:
    cmds = [f"link add {UNDERLAY_BRIDGE} type bridge", f"link set {UNDERLAY_BRIDGE} up", "link set lo up"]
    for n in t.nodes:
        cmds += [f"link add {n.underlay_port} type veth peer name eth0 netns {n.netns}",
                 f"link set {n.underlay_port} master {UNDERLAY_BRIDGE} up"]
    cmds += [f"link add pnux type veth peer name eth0 netns {t.external_ns}",
             f"link set pnux master {UNDERLAY_BRIDGE} up"]
    return cmds


def external_commands(t: Topology) -> list[str]:
    prefix = t.nodes[0].prefixlen if t.nodes else 16
    return ["link set lo up", f"addr add {t.external_ip}/{prefix} dev eth0", "link set eth0 up"]


def node_commands(t: Topology, n: NodeNet) -> list[str]:
    """Everything inside one node's namespace except the pod bridge (the CNI plugin's)."""
    cmds = ["link set lo up", f"addr add {n.ip}/{n.prefixlen} dev eth0", "link set eth0 up",
            # the node's own connections to ClusterIPs need a route before the proxy's DNAT
            f"route replace {t.service_cidr} dev eth0"]
    others = [o for o in t.nodes if o.name != n.name]
    if t.network == "vxlan":
        cmds += [
            f"link add {VXLAN_DEV} type vxlan id {VXLAN_VNI} local {n.ip} dev eth0 "
            f"dstport {VXLAN_PORT} nolearning",
            f"link set {VXLAN_DEV} address {n.vtep_mac} mtu {VXLAN_MTU}",
            f"addr add {n.vtep_ip}/32 dev {VXLAN_DEV}",
            f"link set {VXLAN_DEV} up",
        ]
        for o in others:
            cmds += [
                f"neigh replace {o.vtep_ip} lladdr {o.vtep_mac} dev {VXLAN_DEV} nud permanent",
                f"route replace {o.pod_cidr} via {o.vtep_ip} dev {VXLAN_DEV} onlink",
            ]
    else:
        cmds += [f"route replace {o.pod_cidr} via {o.ip} dev eth0" for o in others]
    return cmds


def node_fdb_commands(t: Topology, n: NodeNet) -> list[str]:
    """``bridge -batch`` lines: where each remote VTEP MAC lives on the underlay (vxlan only)."""
    if t.network != "vxlan":
        return []
    return [f"fdb append {o.vtep_mac} dev {VXLAN_DEV} dst {o.ip} self permanent"
            for o in t.nodes if o.name != n.name]


def node_masquerade_ruleset(t: Topology, n: NodeNet) -> str:
    """nft: pod traffic leaving the pod network is masqueraded to the node IP."""
    return (
        "table ip podnet-node {}\nflush table ip podnet-node\n"
        "table ip podnet-node {\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat + 10; policy accept;\n"
        f"    ip saddr {n.pod_cidr} ip daddr != {t.pod_cidr} oifname \"eth0\" masquerade\n"
        "  }\n"
        "}\n"
    )
