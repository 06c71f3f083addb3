"""The cluster zone index: what the DNS server knows, built from API objects.

A ``Zone`` holds a reduced view of Services, EndpointSlices, Pods and
Namespaces — only the fields DNS answers depend on — indexed the way queries
arrive: by (namespace, service name), by IP for PTR and for autopath's
"which namespace is this client pod in". It is fed object by object
(``upsert``/``delete``, from watch events or from a list of manifests) so a
change costs one object, never a rebuild; the reverse and pod-IP indexes are
rebuilt lazily, at most once per change burst, when a query needs them.

``version`` increases with every change: the wire cache compares it to drop
stale answers. ``serial`` is the SOA serial, the Unix time of the last change
(CoreDNS uses the same). ``synced`` is False until the first full list from
the API server has been applied; until then cluster names answer SERVFAIL.

Readiness follows Kubernetes and CoreDNS: an endpoint counts when its
``conditions.ready`` is unset or true, or when its Service publishes not-ready
addresses (``spec.publishNotReadyAddresses`` or the legacy
``service.alpha.kubernetes.io/tolerate-unready-endpoints: "true"`` annotation).
An endpoint's DNS hostname is its ``hostname`` field, else its IP with dots
(or colons) turned into dashes, as CoreDNS does (``10-244-1-5``).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any

from podnet.api.kinds import Obj, name_of, namespace_of

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
Key = tuple[str, str]


@dataclass(frozen=True)
class Port:
    name: str
    protocol: str
    port: int  # -1: the "no ports" sentinel (A records yes, SRV no), as in CoreDNS


NO_PORT = Port("", "", -1)


@dataclass(frozen=True)
class Endpoint:
    ip: str
    hostname: str  # the DNS label: endpoint hostname, else the dashed IP
    ready: bool
    ports: tuple[Port, ...]


@dataclass(frozen=True)
class ServiceRecord:
    namespace: str
    name: str
    kind: str  # "ClusterIP" | "Headless" | "ExternalName"
    cluster_ips: tuple[str, ...] = ()
    external_name: str = ""
    ports: tuple[Port, ...] = ()
    publish_not_ready: bool = False


def dashed(ip: str) -> str:
    return ip.replace(".", "-") if "." in ip else ip.replace(":", "-")


def _ports(raw: Any) -> tuple[Port, ...]:
    out = []
    for p in raw or []:
        if p.get("port") is None:
            continue
        out.append(Port(str(p.get("name") or "").lower(), str(p.get("protocol") or "TCP").lower(),
                        int(p["port"])))
    return tuple(out)


def _valid_ip(ip: str) -> bool:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return False
    return True


def service_record(svc: Obj) -> ServiceRecord:
    """The DNS-relevant part of a Service."""
    spec = svc.get("spec") or {}
    ns, name = namespace_of(svc).lower(), name_of(svc).lower()
    ann = (svc.get("metadata") or {}).get("annotations") or {}
    publish = bool(spec.get("publishNotReadyAddresses")) or \
        str(ann.get(TOLERATE_UNREADY, "")).lower() == "true"
    ports = _ports(spec.get("ports"))
    if spec.get("type") == "ExternalName":
        return ServiceRecord(ns, name, "ExternalName",
                             external_name=str(spec.get("externalName") or "").rstrip(".").lower(),
                             ports=ports)
    ips = [str(ip) for ip in spec.get("clusterIPs") or [] if ip]
    if not ips and spec.get("clusterIP"):
        ips = [str(spec["clusterIP"])]
    ips = [ip for ip in ips if ip != "None" and _valid_ip(ip)]
    if not ips:
        return ServiceRecord(ns, name, "Headless", ports=ports, publish_not_ready=publish)
    return ServiceRecord(ns, name, "ClusterIP", cluster_ips=tuple(ips), ports=ports,
                         publish_not_ready=publish)


def slice_endpoints(es: Obj) -> list[Endpoint]:
    """Every address of an EndpointSlice (FQDN slices carry none for DNS)."""
    if es.get("addressType") == "FQDN":
        return []
    ports = _ports(es.get("ports")) or (NO_PORT,)
    out = []
    for ep in es.get("endpoints") or []:
        ready = (ep.get("conditions") or {}).get("ready")
        for ip in ep.get("addresses") or []:
            ip = str(ip)
            if not _valid_ip(ip):
                continue
            host = str(ep.get("hostname") or "").lower() or dashed(ip)
            out.append(Endpoint(ip, host, ready is None or bool(ready), ports))
    return out


def _slice_service(es: Obj) -> str:
    labels = (es.get("metadata") or {}).get("labels") or {}
    return str(labels.get(SERVICE_NAME_LABEL) or "").lower()


def pod_ips(pod: Obj) -> tuple[str, ...]:
    st = pod.get("status") or {}
    ips = [str(p.get("ip")) for p in st.get("podIPs") or [] if p.get("ip")]
    if not ips and st.get("podIP"):
        ips = [str(st["podIP"])]
    return tuple(ip for ip in ips if _valid_ip(ip))


@dataclass
class Zone:
    """The index of one cluster zone (``cluster.local``) and its answer settings."""

    domain: str = "cluster.local"
    ttl: int = 5
    pod_mode: str = "insecure"  # disabled | insecure | verified, as CoreDNS's ``pods``
    synced: bool = False
    version: int = 0
    serial: int = 0
    services: dict[Key, ServiceRecord] = field(default_factory=dict)
    slices: dict[Key, dict[str, list[Endpoint]]] = field(default_factory=dict)
    pods: dict[Key, tuple[str, ...]] = field(default_factory=dict)
    namespace_objects: set[str] = field(default_factory=set)
    _slice_owner: dict[Key, Key] = field(default_factory=dict)
    _ns_refs: dict[str, int] = field(default_factory=dict)
    _reverse: dict[str, list[str]] | None = None
    _pod_ns: dict[str, str] | None = None
    _ready: dict[Key, list[Endpoint]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.domain = self.domain.strip(".").lower()
        if not self.serial:
            self.serial = int(time.time())

    # -- feeding --

    def upsert(self, kind: str, obj: Obj) -> None:
        """Add or replace one object (``kind`` as in the object: Service, EndpointSlice, ...)."""
        self._remove(kind, obj)
        ns, name = namespace_of(obj).lower(), name_of(obj).lower()
        if kind == "Service":
            self.services[(ns, name)] = service_record(obj)
            self._ref(ns, 1)
        elif kind == "EndpointSlice":
            svc = _slice_service(obj)
            if svc:
                self.slices.setdefault((ns, svc), {})[name] = slice_endpoints(obj)
                self._slice_owner[(ns, name)] = (ns, svc)
                self._ready.pop((ns, svc), None)
        elif kind == "Pod":
            self.pods[(ns, name)] = pod_ips(obj)
            self._ref(ns, 1)
        elif kind == "Namespace":
            self.namespace_objects.add(name)
        else:
            return
        self._changed()

    def delete(self, kind: str, obj: Obj) -> None:
        if self._remove(kind, obj):
            self._changed()

    def load(self, objects: list[Obj]) -> None:
        """Apply a whole list of objects (manifests, a dump) and mark the zone synced."""
        for o in objects:
            self.upsert(str(o.get("kind") or ""), o)
        self.synced = True
        self._changed()

    def _remove(self, kind: str, obj: Obj) -> bool:
        ns, name = namespace_of(obj).lower(), name_of(obj).lower()
        if kind == "Service":
            if self.services.pop((ns, name), None) is None:
                return False
            self._ready.pop((ns, name), None)
            self._ref(ns, -1)
        elif kind == "EndpointSlice":
            owner = self._slice_owner.pop((ns, name), None)
            if owner is None:
                return False
            group = self.slices.get(owner, {})
            group.pop(name, None)
            if not group:
                self.slices.pop(owner, None)
            self._ready.pop(owner, None)
        elif kind == "Pod":
            if self.pods.pop((ns, name), None) is None:
                return False
            self._ref(ns, -1)
        elif kind == "Namespace":
            if name not in self.namespace_objects:
                return False
            self.namespace_objects.discard(name)
        else:
            return False
        return True

    def _ref(self, ns: str, delta: int) -> None:
        n = self._ns_refs.get(ns, 0) + delta
        if n > 0:
            self._ns_refs[ns] = n
        else:
            self._ns_refs.pop(ns, None)

    def _changed(self) -> None:
        self.version += 1
        self.serial = max(self.serial + 1, int(time.time()))
        self._reverse = None
        self._pod_ns = None

    def mark_synced(self) -> None:
        if not self.synced:
            self.synced = True
            self._changed()

    # -- reading --

    def namespace_exists(self, ns: str) -> bool:
        """A Namespace object exists, or any Service or Pod lives in ``ns``."""
        return ns in self.namespace_objects or ns in self._ns_refs

    def endpoints(self, ns: str, svc: str) -> list[Endpoint]:
        """The endpoints that count for DNS (ready, or all when the Service publishes unready)."""
        key = (ns, svc)
        have = self._ready.get(key)
        if have is not None:
            return have
        rec = self.services.get(key)
        publish = rec is not None and rec.publish_not_ready
        out = [e for group in self.slices.get(key, {}).values() for e in group
               if e.ready or publish]
        out.sort(key=lambda e: (e.hostname, e.ip))
        self._ready[key] = out
        return out

    def reverse(self, ip: str) -> list[str]:
        """FQDNs (no trailing dot) a PTR query for ``ip`` answers, ClusterIPs first."""
        if self._reverse is None:
            self._reverse = self._build_reverse()
        return self._reverse.get(_canonical(ip), [])

    def _build_reverse(self) -> dict[str, list[str]]:
        by_ip: dict[str, list[str]] = {}
        clusterip: set[str] = set()
        for (ns, name), rec in sorted(self.services.items()):
            for ip in rec.cluster_ips:
                ip = _canonical(ip)
                if ip not in clusterip:  # the first Service owning an IP wins
                    clusterip.add(ip)
                    by_ip[ip] = [f"{name}.{ns}.svc.{self.domain}"]
        for (ns, name) in sorted(self.slices):
            if (ns, name) not in self.services:
                continue
            for e in self.endpoints(ns, name):
                ip = _canonical(e.ip)
                if ip in clusterip:
                    continue
                fqdn = f"{e.hostname}.{name}.{ns}.svc.{self.domain}"
                names = by_ip.setdefault(ip, [])
                if fqdn not in names:
                    names.append(fqdn)
        return by_ip

    def pod_namespace(self, ip: str) -> str | None:
        """The namespace of the pod that has ``ip`` (autopath's client lookup)."""
        if self._pod_ns is None:
            self._pod_ns = {}
            for (ns, _name), ips in sorted(self.pods.items()):
                for pip in ips:
                    self._pod_ns.setdefault(_canonical(pip), ns)
        return self._pod_ns.get(_canonical(ip))

    def pod_exists(self, ns: str, ip: str) -> bool:
        want = _canonical(ip)
        return any(k[0] == ns and want in {_canonical(i) for i in ips}
                   for k, ips in self.pods.items())

    def dns_service_ips(self) -> tuple[str, ...]:
        """Addresses of ``ns.dns.<zone>``: the kube-system/kube-dns Service's ClusterIPs."""
        rec = self.services.get(("kube-system", "kube-dns"))
        return rec.cluster_ips if rec else ()


def _canonical(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ip
