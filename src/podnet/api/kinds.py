"""The registry of supported Kubernetes kinds.

Each ``Kind`` knows its apiVersion, REST plural, scope and kubectl short names,
so the loader, the store keys, the API server paths and the CLI all agree on
one table. Objects themselves stay plain dicts (``Obj``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """One supported kind: ``Service`` is group "" version "v1" plural "services"."""

    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path: ``/api/v1/namespaces/ns/services/name``."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        return base


KINDS: tuple[Kind, ...] = (
    Kind("Namespace", "", "v1", "namespaces", False, ("ns",)),
    Kind("Node", "", "v1", "nodes", False, ("no",)),
    Kind("Pod", "", "v1", "pods", True, ("po",)),
    Kind("Service", "", "v1", "services", True, ("svc",)),
    Kind("ConfigMap", "", "v1", "configmaps", True, ("cm",)),
    Kind("Secret", "", "v1", "secrets", True, ()),
    Kind("Event", "", "v1", "events", True, ("ev",)),
    Kind("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", True, ("ep",)),
    Kind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", True, ("netpol",)),
    Kind("Ingress", "networking.k8s.io", "v1", "ingresses", True, ("ing",)),
    Kind("IngressClass", "networking.k8s.io", "v1", "ingressclasses", False, ()),
    Kind("Deployment", "apps", "v1", "deployments", True, ("deploy",)),
    Kind("ReplicaSet", "apps", "v1", "replicasets", True, ("rs",)),
    Kind("StatefulSet", "apps", "v1", "statefulsets", True, ("sts",)),
    Kind("DaemonSet", "apps", "v1", "daemonsets", True, ("ds",)),
    Kind("Lease", "coordination.k8s.io", "v1", "leases", True, ()),
)

BY_KIND: dict[str, Kind] = {k.kind: k for k in KINDS}
BY_PLURAL: dict[str, Kind] = {k.plural: k for k in KINDS}


def _aliases() -> dict[str, Kind]:
    table: dict[str, Kind] = {}
    for k in KINDS:
        for alias in (k.kind.lower(), k.plural, *k.short_names):
            table[alias] = k
        if k.group:
            table[f"{k.plural}.{k.group}"] = k
    table["endpointslice"] = BY_KIND["EndpointSlice"]
    table["secret"] = BY_KIND["Secret"]
    return table


ALIASES: dict[str, Kind] = _aliases()


class UnknownKind(KeyError):
    """A kind, plural or short name that podnet does not serve."""


def lookup(name: str) -> Kind:
    """Resolve what a user typed (``svc``, ``services``, ``Service``) to a Kind."""
    k = BY_KIND.get(name) or ALIASES.get(name.lower())
    if k is None:
        raise UnknownKind(name)
    return k


def kind_of(obj: Obj) -> Kind:
    """The Kind of an object by its ``kind`` field; raises UnknownKind."""
    k = BY_KIND.get(str(obj.get("kind", "")))
    if k is None:
        raise UnknownKind(str(obj.get("kind", "")))
    return k


def meta(obj: Obj) -> dict[str, Any]:
    """``obj.metadata``, created if missing."""
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = {}
        obj["metadata"] = m
    return m


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def namespace_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace", "") or "")


def labels_of(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def node_internal_ip(node: Obj) -> str:
    """A Node's ``InternalIP`` address, or "" when it has none."""
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return str(a.get("address") or "")
    return ""


def rfc3339(ts: float) -> str:
    """A Unix time as Kubernetes writes timestamps: ``2026-01-01T00:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def ref(obj: Obj) -> str:
    """``Kind ns/name`` or ``Kind name``: how errors and logs name an object."""
    ns = namespace_of(obj)
    return f"{obj.get('kind', '?')} {ns + '/' if ns else ''}{name_of(obj)}"
