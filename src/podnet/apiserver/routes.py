"""Kubernetes REST paths: which resource, namespace, name and subresource a URL names,
and the discovery documents (``/api``, ``/apis``, ``/api/v1``, ``/apis/apps/v1``,
``/version``) that let curl users and tools see what is served.

Paths understood (``{prefix}`` is ``/api/v1`` or ``/apis/{group}/{version}``)::

    {prefix}/{plural}                               all namespaces / cluster-scoped list
    {prefix}/{plural}/{name}[/status]               cluster-scoped object
    {prefix}/namespaces/{ns}/{plural}               namespaced list
    {prefix}/namespaces/{ns}/{plural}/{name}[/status]
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

from podnet.api.kinds import BY_PLURAL, KINDS, Kind
from podnet.store.base import NotFound

NAMESPACED_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                    "watch"]
SUBRESOURCES = ("status",)


@dataclass(frozen=True)
class Target:
    """What one resource URL names. ``namespace`` None: all namespaces (a list)."""

    kind: Kind
    namespace: str | None
    name: str = ""
    subresource: str = ""

    @property
    def is_collection(self) -> bool:
        return not self.name


def not_found() -> NotFound:
    return NotFound("the server could not find the requested resource")


def split_prefix(path: str) -> tuple[str, str, list[str]] | None:
    """``(group, version, rest)`` of an /api or /apis path; None when it is neither."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        return "", parts[1], parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def resolve(group: str, version: str, rest: list[str]) -> Target:
    """The Target of a resource path below its group/version prefix; NotFound otherwise."""
    ns: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in SUBRESOURCES:
        ns, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise not_found()
    kind = BY_PLURAL.get(rest[0])
    if kind is None or kind.group != group or kind.version != version:
        raise not_found()
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub and sub not in SUBRESOURCES:
        raise not_found()
    if kind.namespaced:
        if ns is None and name:
            raise not_found()  # /api/v1/pods/x has no meaning
        return Target(kind, ns, name, sub)
    if ns is not None:
        raise not_found()
    return Target(kind, "", name, sub)


# -- discovery --

def _group_versions() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k in KINDS:
        if k.group and k.version not in out.setdefault(k.group, []):
            out[k.group].append(k.version)
    return out


def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": vs,
            "preferredVersion": vs[0]}


def _resource_list(group: str, version: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for k in KINDS:
        if k.group != group or k.version != version:
            continue
        resources.append({"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced,
                          "kind": k.kind, "verbs": NAMESPACED_VERBS,
                          "shortNames": list(k.short_names)})
        resources.append({"name": f"{k.plural}/status", "singularName": "",
                          "namespaced": k.namespaced, "kind": k.kind,
                          "verbs": ["get", "patch", "update"]})
    if not resources:
        raise not_found()
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}


def discovery(path: str) -> dict[str, Any] | None:
    """The discovery document at ``path``, or None when ``path`` is a resource path."""
    parts = [p for p in path.split("/") if p]
    if parts == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}
    if parts == ["apis"]:
        groups = [_group_doc(g, vs) for g, vs in sorted(_group_versions().items())]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    if len(parts) == 2 and parts[0] == "apis":
        versions = _group_versions().get(parts[1])
        if not versions:
            raise not_found()
        return _group_doc(parts[1], versions)
    if parts == ["api", "v1"]:
        return _resource_list("", "v1")
    if len(parts) == 3 and parts[0] == "apis":
        return _resource_list(parts[1], parts[2])
    if parts == ["version"]:
        return {"major": "1", "minor": "31", "gitVersion": "v1.31.0-podnet",
                "platform": f"linux/{platform.machine()}",
                "compiler": f"python{platform.python_version()}"}
    return None
