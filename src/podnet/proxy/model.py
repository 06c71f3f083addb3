"""The proxy's semantic plan: what each service frontend does, before any nftables syntax.

A *frontend* is one (IP, protocol, port) a client can connect to: a ClusterIP
port, an externalIP port, a LoadBalancer ingress IP port, or a NodePort on one
of this node's addresses. Everything the data path decides for a new
connection is a property of the frontend plus the class of the client:

- which endpoint set it picks from (``endpoints``; for an external frontend
  with externalTrafficPolicy Local, clients from outside the cluster use
  ``local_endpoints`` instead),
- whether the source is masqueraded (``masquerade``),
- what happens when there is nothing to pick (``when_empty``: reject / drop),
- ClientIP affinity (``affinity_timeout``) and loadBalancerSourceRanges.

:mod:`podnet.proxy.plan` builds these from Kubernetes objects,
:mod:`podnet.proxy.layout` turns them into nftables state, and
:mod:`podnet.proxy.explain` answers "what happens to this packet" from them,
so the live data path and the offline answer share one source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FrontendKind(StrEnum):
    CLUSTER_IP = "ClusterIP"
    EXTERNAL_IP = "ExternalIP"
    LOAD_BALANCER = "LoadBalancer"
    NODE_PORT = "NodePort"

    @property
    def external(self) -> bool:
        """Frontends reachable from outside: subject to externalTrafficPolicy."""
        return self is not FrontendKind.CLUSTER_IP


class Masquerade(StrEnum):
    """When a new connection through a frontend gets its source NATed."""

    NON_POD = "non-pod"  # ClusterIP: sources outside the pod CIDR (nodes, external)
    ALWAYS = "always"  # external frontend, externalTrafficPolicy Cluster
    LOCAL_SOURCE = "local-source"  # external frontend, Local: only the node's own traffic


@dataclass(frozen=True, order=True)
class Endpoint:
    """One backend of a service port: pod IP and the resolved target port."""

    ip: str
    port: int
    node: str = ""
    ready: bool = True
    serving: bool = True
    terminating: bool = False

    @property
    def target(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class Frontend:
    """One (ip, protocol, port) of a service and everything needed to route it."""

    ip: str
    protocol: str  # "tcp" | "udp" | "sctp" (nft spelling)
    port: int
    kind: FrontendKind
    service: str  # "namespace/name"
    port_name: str
    endpoints: tuple[Endpoint, ...]  # the set used by cluster-internal clients
    local_endpoints: tuple[Endpoint, ...] | None = None  # eTP Local: outside clients
    has_endpoints: bool = True  # any usable endpoint at all (else: reject)
    internal_local: bool = False  # internalTrafficPolicy Local (ClusterIP only)
    masquerade: Masquerade = Masquerade.NON_POD
    affinity_timeout: int | None = None
    source_ranges: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.ip, self.protocol, self.port)

    @property
    def external_local(self) -> bool:
        return self.local_endpoints is not None

    @property
    def when_empty(self) -> str | None:
        """The filter verdict for new connections: None (proceed), "reject" or "drop"."""
        if not self.has_endpoints:
            return "reject"
        if not self.endpoints:
            return "drop"  # internalTrafficPolicy Local without local endpoints
        return None


@dataclass(frozen=True)
class HealthCheck:
    """A healthCheckNodePort served by the node agent for an eTP=Local LoadBalancer."""

    port: int
    service: str
    local_endpoints: int


@dataclass(frozen=True)
class ProxyPlan:
    """Everything this node's proxy programs, plus why some services got no rules."""

    node: str
    node_ips: tuple[str, ...]
    pod_cidr: str
    frontends: tuple[Frontend, ...]
    health_checks: tuple[HealthCheck, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)  # "ns/name" -> reason

    def frontend(self, ip: str, protocol: str, port: int) -> Frontend | None:
        for fe in self.frontends:
            if fe.key == (ip, protocol.lower(), port):
                return fe
        return None
