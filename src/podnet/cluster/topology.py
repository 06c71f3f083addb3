"""The shape of a cluster's network, as plain data, and the ip commands that build it.

Pure: from a ClusterConfig to namespaces, links, addresses and routes. The
names are predictable (Mininet-style) so a learner can find every piece:

* ``pn-<cluster>-underlay``: the physical L2 network, a bridge ``pnbr0``;
* ``pn-<cluster>-<node>``: one per node, ``eth0`` on the underlay (veth
  ``pnu<i>`` on the underlay side), pod bridge ``cni0`` made by the CNI plugin;
* ``pn-<cluster>-external``: "the internet", ``eth0`` on the underlay.

With several underlay subnets (``subnets`` in the cluster YAML) each subnet is
its own bridge ``pnbr<i>`` and ``pn-<cluster>-router`` joins them (``eth<i>``
holding each subnet's first address); nodes and the external namespace route
through it. Only ``vxlan`` works across subnets: host-gw routes need one L2.

Pod networks between nodes: ``flat`` (host-gw: each node routes the other
nodes' pod ranges via their node IPs) or ``vxlan`` (flannel's model: device
``pnvx`` VNI 1, UDP 8472, MTU 1450, address ``<podCIDR>.0/32``; per remote node an
onlink route via its VTEP address, a permanent neighbour entry and an FDB entry).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from podnet.api.config import ClusterConfig

VXLAN_DEV = "pnvx"
VXLAN_VNI = 1
VXLAN_PORT = 8472
VXLAN_MTU = 1450


@dataclass(frozen=True)
class Subnet:
    index: int
    cidr: str

    @property
    def bridge(self) -> str:
        return f"pnbr{self.index}"

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.cidr).prefixlen

    @property
    def router_ip(self) -> str:
        return str(ipaddress.ip_network(self.cidr).network_address + 1)


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
    subnet: int = 0
    gateway: str | None = None

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
    subnets: tuple[Subnet, ...] = ()
    router_ns: str | None = None
    lb_pool: str = ""

    @property
    def namespaces(self) -> list[str]:
        extra = [self.router_ns] if self.router_ns else []
        return [self.underlay_ns, *extra, *(n.netns for n in self.nodes), self.external_ns]

    @property
    def external_gateway(self) -> str | None:
        return self.subnets[0].router_ip if self.router_ns else None

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


class TopologyError(ValueError):
    """A cluster shape that cannot be built (says which node or subnet and why)."""


def plan(config: ClusterConfig) -> Topology:
    subnets = tuple(Subnet(i, c) for i, c in enumerate(config.subnets or (config.node_cidr,)))
    routed = len(subnets) > 1
    if routed and config.network != "vxlan":
        raise TopologyError("nodes on several L3 subnets need --network vxlan (host-gw routes need one L2)")
    nodes = []
    for i, n in enumerate(config.nodes, start=1):
        home = next((s for s in subnets if ipaddress.ip_address(n.ip) in ipaddress.ip_network(s.cidr)), None)
        if home is None:
            where = ", ".join(s.cidr for s in subnets)
            raise TopologyError(f"node {n.name}: IP {n.ip} is in none of {where}")
        nodes.append(NodeNet(i, n.name, f"{netns_prefix(config.name)}{n.name}", n.ip, home.prefixlen,
                             n.pod_cidr, f"pnu{i}", _mac(config.name, n.name), home.index,
                             home.router_ip if routed else None))
    net = ipaddress.ip_network(subnets[0].cidr)
    return Topology(
        cluster=config.name,
        network=config.network,
        pod_cidr=config.pod_cidr,
        service_cidr=config.service_cidr,
        underlay_ns=f"{netns_prefix(config.name)}underlay",
        external_ns=f"{netns_prefix(config.name)}external",
        external_ip=str(net.network_address + 2),
        nodes=tuple(nodes),
        subnets=subnets,
        router_ns=f"{netns_prefix(config.name)}router" if routed else None,
        lb_pool=config.lb_pool,
    )


def underlay_commands(t: Topology) -> list[str]:
    cmds = ["link set lo up"]
    for s in t.subnets:
        cmds += [f"link add {s.bridge} type bridge", f"link set {s.bridge} up"]
        if t.router_ns:
            cmds += [f"link add pnr{s.index} type veth peer name eth{s.index} netns {t.router_ns}",
                     f"link set pnr{s.index} master {s.bridge} up"]
    for n in t.nodes:
        cmds += [f"link add {n.underlay_port} type veth peer name eth0 netns {n.netns}",
                 f"link set {n.underlay_port} master {t.subnets[n.subnet].bridge} up"]
    cmds += [f"link add pnux type veth peer name eth0 netns {t.external_ns}",
             f"link set pnux master {t.subnets[0].bridge} up"]
    return cmds


def router_commands(t: Topology) -> list[str]:
    cmds = ["link set lo up"]
    for s in t.subnets:
        cmds += [f"addr add {s.router_ip}/{s.prefixlen} dev eth{s.index}", f"link set eth{s.index} up"]
    return cmds


def external_commands(t: Topology) -> list[str]:
    cmds = ["link set lo up", f"addr add {t.external_ip}/{t.subnets[0].prefixlen} dev eth0",
            "link set eth0 up"]
    if t.external_gateway:
        cmds.append(f"route add default via {t.external_gateway}")
    # "the cloud": LoadBalancer IPs are routed to the nodes of the external's subnet (ECMP);
    # each node's proxy takes them from there like a ClusterIP.
    from podnet.controllers.loadbalancer import parse_pool

    hops = " ".join(f"nexthop via {n.ip}" for n in t.nodes if n.subnet == 0)
    if t.lb_pool and hops:
        cmds += [f"route add {net} {hops}" for net in parse_pool(t.lb_pool)]
    return cmds


def node_commands(t: Topology, n: NodeNet) -> list[str]:
    """Everything inside one node's namespace except the pod bridge (the CNI plugin's)."""
    cmds = ["link set lo up", f"addr add {n.ip}/{n.prefixlen} dev eth0", "link set eth0 up",
            # the node's own connections to ClusterIPs need a route before the proxy's DNAT
            f"route replace {t.service_cidr} dev eth0"]
    if n.gateway:
        cmds.append(f"route add default via {n.gateway}")
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
