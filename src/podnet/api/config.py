"""Cluster-wide settings and their kind/k3s-like defaults.

One ``ClusterConfig`` is shared by the API server (service CIDR, NodePort range),
controllers (node pod ranges), the offline pipeline and ``podnet up``. Node i
(1-based) is named ``node-i``, gets pod range ``<pod_cidr>.i.0/24`` and node IP
``172.18.0.(10+i)``.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CLUSTER = "podnet"
POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"
NODE_CIDR = "172.18.0.0/16"
DNS_DOMAIN = "cluster.local"
NODE_PORT_RANGE = (30000, 32767)
LB_POOL = "172.18.255.200-172.18.255.250"  # LoadBalancer ingress IPs, on the underlay
# A Linux bridge numbers its ports 1..1023: the most pods one node's bridge can hold, and so
# the default and the ceiling of a node's maxPods (the kubelet's setting of that name).
MAX_BRIDGE_PORTS = 1023


@dataclass(frozen=True)
class NodeConfig:
    name: str
    ip: str
    pod_cidr: str
    max_pods: int = MAX_BRIDGE_PORTS


@dataclass(frozen=True)
class ClusterConfig:
    name: str = DEFAULT_CLUSTER
    pod_cidr: str = POD_CIDR
    service_cidr: str = SERVICE_CIDR
    node_cidr: str = NODE_CIDR
    dns_domain: str = DNS_DOMAIN
    node_port_range: tuple[int, int] = NODE_PORT_RANGE
    network: str = "flat"
    nodes: tuple[NodeConfig, ...] = field(default_factory=tuple)
    lb_pool: str = LB_POOL
    # Underlay L3 subnets joined by a router namespace; empty: one L2 network (node_cidr).
    subnets: tuple[str, ...] = ()

    @property
    def kubernetes_service_ip(self) -> str:
        """The first address of the service range: the ``kubernetes`` Service (10.96.0.1)."""
        return str(ipaddress.ip_network(self.service_cidr)[1])

    @property
    def dns_service_ip(self) -> str:
        """The tenth address of the service range: ``kube-dns`` (10.96.0.10)."""
        return str(ipaddress.ip_network(self.service_cidr)[10])

    def with_nodes(self, count: int) -> ClusterConfig:
        """This config with ``count`` default nodes (node-1..node-N) when none are set."""
        if self.nodes:
            return self
        return ClusterConfig(
            name=self.name,
            pod_cidr=self.pod_cidr,
            service_cidr=self.service_cidr,
            node_cidr=self.node_cidr,
            dns_domain=self.dns_domain,
            node_port_range=self.node_port_range,
            network=self.network,
            nodes=tuple(default_node(self, i) for i in range(1, count + 1)),
            subnets=self.subnets,
            lb_pool=self.lb_pool,
        )


def node_pod_cidr(pod_cidr: str, index: int) -> str:
    """The index-th /24 of the pod range (index 1 -> 10.244.1.0/24)."""
    net = ipaddress.ip_network(pod_cidr)
    subnets = net.subnets(new_prefix=24) if net.prefixlen <= 24 else iter([net])
    for i, sub in enumerate(subnets):
        if i == index:
            return str(sub)
    raise ValueError(f"pod CIDR {pod_cidr} has no room for node {index}")


def default_node(cfg: ClusterConfig, index: int) -> NodeConfig:
    """node-i: the next /24 of pods; an IP in node_cidr, or round-robin over the subnets."""
    cidr = cfg.subnets[(index - 1) % len(cfg.subnets)] if cfg.subnets else cfg.node_cidr
    base = ipaddress.ip_network(cidr).network_address
    return NodeConfig(f"node-{index}", str(base + 10 + index), node_pod_cidr(cfg.pod_cidr, index))


def state_dir(cluster: str) -> Path:
    """Where one cluster keeps its state: ``$PODNET_STATE_ROOT/<cluster>`` (default /var/lib/podnet)."""
    return Path(os.environ.get("PODNET_STATE_ROOT", "/var/lib/podnet")) / cluster


def apiserver_socket(cluster: str) -> Path:
    return state_dir(cluster) / "apiserver.sock"
