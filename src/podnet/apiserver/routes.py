"""Kubernetes REST paths: which resource, namespace, name and subresource a URL names.
(The discovery documents that list them are in podnet.apiserver.discovery.)

Paths understood (``{prefix}`` is ``/api/v1`` or ``/apis/{group}/{version}``)::

    {prefix}/{plural}                               all namespaces / cluster-scoped list
    {prefix}/{plural}/{name}[/status]               cluster-scoped object
    {prefix}/namespaces/{ns}/{plural}               namespaced list
    {prefix}/namespaces/{ns}/{plural}/{name}[/status]
"""

from __future__ import annotations

from dataclasses import dataclass

from podnet.api.kinds import BY_PLURAL, Kind
from podnet.store.base import NotFound

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
