"""JSON merge patch (RFC 7386) and kubectl-style ``apply`` on top of it.

``merge_patch`` is the server side of ``PATCH`` with
``application/merge-patch+json`` (strategic merge patches are treated the same
way: lists are replaced whole). ``three_way_patch`` is what ``kubectl apply``
computes for kinds without a strategic schema: from the last applied manifest
(kept in the ``kubectl.kubernetes.io/last-applied-configuration`` annotation),
the new manifest and the live object, a merge patch that sets what the manifest
says and removes what an earlier manifest set and this one dropped, while
leaving fields that controllers own (clusterIP, nodePorts, nodeName) alone.
``apply`` runs that against anything with ``get``/``create``/``patch``: the
Registry in-process or the HTTP Client.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Protocol

from podnet.api.kinds import Obj, kind_of, meta
from podnet.store.base import NotFound

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# metadata the server owns: a manifest (or a dump of a real cluster) never sets these on apply
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
                   "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: ``patch`` applied to ``target`` (neither is modified); ``null`` removes a key."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def three_way_patch(original: dict[str, Any], modified: dict[str, Any],
                    current: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that makes ``current`` say what ``modified`` says, deleting the keys
    ``original`` (the last applied manifest) had and ``modified`` no longer has."""
    patch: dict[str, Any] = {}
    for key, want in modified.items():
        have = current.get(key)
        if want is None:
            if key in current:
                patch[key] = None
        elif isinstance(want, dict) and isinstance(have, dict):
            before = original.get(key)
            sub = three_way_patch(before if isinstance(before, dict) else {}, want, have)
            if sub:
                patch[key] = sub
        elif have != want:
            patch[key] = copy.deepcopy(want)
    for key in original:
        if key not in modified and key in current:
            patch[key] = None
    return patch


def manifest_of(obj: Obj) -> Obj:
    """What ``apply`` sends: the object without status and server-owned metadata."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    m = meta(out)
    for f in SERVER_METADATA:
        m.pop(f, None)
    ann = m.get("annotations")
    if isinstance(ann, dict):
        ann.pop(LAST_APPLIED, None)
        if not ann:
            m.pop("annotations")
    return out


class Patchable(Protocol):
    async def get(self, resource: str, namespace: str, name: str) -> Obj: ...

    async def create(self, resource: str, obj: Obj, dry_run: bool = False) -> Obj: ...

    async def patch(self, resource: str, namespace: str, name: str, patch: dict[str, Any],
                    dry_run: bool = False) -> Obj: ...


async def apply(api: Patchable, obj: Obj, dry_run: bool = False) -> Obj:
    """Create ``obj``, or patch the live object to match it like ``kubectl apply``.

    A namespaced object without a namespace goes to ``default``. On create the
    object's status (if any) is kept, so a dump of a real cluster keeps its pod IPs.
    """
    kind = kind_of(obj)
    manifest = manifest_of(obj)
    m = meta(manifest)
    if kind.namespaced and not m.get("namespace"):
        m["namespace"] = "default"
    elif not kind.namespaced:
        m.pop("namespace", None)
    manifest.setdefault("apiVersion", kind.api_version)
    ns, name = str(m.get("namespace") or ""), str(m.get("name") or "")
    last = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    modified = copy.deepcopy(manifest)
    meta(modified).setdefault("annotations", {})[LAST_APPLIED] = last
    try:
        current = await api.get(kind.plural, ns, name)
    except NotFound:
        if "status" in obj:
            modified["status"] = copy.deepcopy(obj["status"])
        return await api.create(kind.plural, modified, dry_run=dry_run)
    previous = (meta(current).get("annotations") or {}).get(LAST_APPLIED)
    try:
        original = json.loads(previous) if previous else {}
    except ValueError:
        original = {}
    patch = three_way_patch(original if isinstance(original, dict) else {}, modified, current)
    if not patch:
        return current
    return await api.patch(kind.plural, ns, name, patch, dry_run=dry_run)
