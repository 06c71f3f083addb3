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


def covers(have: Any, want: Any) -> bool:
    """True when ``have`` already says everything ``want`` says: extra keys in ``have``
    (server defaults like a port's protocol, allocations like its nodePort) don't count,
    inside lists too (element by element)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and covers(have[k], v) for k, v in want.items())
    if isinstance(want, list):
        return (isinstance(have, list) and len(have) == len(want)
                and all(covers(h, w) for h, w in zip(have, want, strict=True)))
    return bool(have == want)


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
        elif not covers(have, want):
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


async def plan_apply(api: Patchable, obj: Obj) -> tuple[str, str, str, str, dict[str, Any]]:
    """What applying ``obj`` would do: (plural, namespace, name, action, body) where action
    is "created" (body: the object to create), "configured" (body: the three-way merge
    patch) or "unchanged" (body: the live object)."""
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
        return kind.plural, ns, name, "created", modified
    previous = (meta(current).get("annotations") or {}).get(LAST_APPLIED)
    try:
        original = json.loads(previous) if previous else {}
    except ValueError:
        original = {}
    patch = three_way_patch(original if isinstance(original, dict) else {}, modified, current)
    if not patch:
        return kind.plural, ns, name, "unchanged", current
    return kind.plural, ns, name, "configured", patch


async def do_apply(api: Patchable, step: tuple[str, str, str, str, dict[str, Any]],
                   dry_run: bool = False) -> Obj:
    """Carry out one ``plan_apply`` step."""
    plural, ns, name, action, body = step
    if action == "created":
        return await api.create(plural, body, dry_run=dry_run)
    if action == "configured":
        return await api.patch(plural, ns, name, body, dry_run=dry_run)
    return body


async def apply(api: Patchable, obj: Obj, dry_run: bool = False) -> Obj:
    """Create ``obj``, or patch the live object to match it like ``kubectl apply``.

    A namespaced object without a namespace goes to ``default``. On create the
    object's status (if any) is kept, so a dump of a real cluster keeps its pod IPs.
    """
    return await do_apply(api, await plan_apply(api, obj), dry_run)
