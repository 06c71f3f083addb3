"""Strategic merge patch: what ``kubectl apply``, ``kubectl edit`` and ``kubectl patch``
send for built-in kinds (``application/strategic-merge-patch+json``).

A JSON merge patch, except that some lists merge element by element by a merge
key (containers by ``name``, container ports by ``containerPort``, Service
ports by ``port``, ...) instead of being replaced, and the patch may carry
directives:

    {"$patch": "replace" | "delete"}       in a map: replace it whole / delete it
    {"<key>": v, "$patch": "delete"}       in a merge list: remove that element
    {"$patch": "replace"}                  as a merge list element: replace the list
    "$setElementOrder/<list>": [...]       the order of the list's elements after merging
    "$deleteFromPrimitiveList/<list>": [..] values to remove from a primitive merge list
    "$retainKeys": [...]                   keys to keep in this map; others are cleared

The merge keys are those of the Kubernetes types podnet serves (the
``patchMergeKey`` struct tags); a list without one is replaced, as in
Kubernetes.
"""

from __future__ import annotations

import copy
from typing import Any

from podnet.store.base import BadRequest

Path = tuple[str, ...]
CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})
# list field name -> merge key, wherever the field appears
MERGE_KEYS = {
    **dict.fromkeys(CONTAINER_LISTS, "name"),
    "env": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "volumes": "name",
    "imagePullSecrets": "name", "hostAliases": "ip", "ownerReferences": "uid",
    "conditions": "type", "podIPs": "ip", "hostIPs": "ip", "resourceClaims": "name",
}
PRIMITIVE_MERGE = frozenset({("metadata", "finalizers")})
ORDER = "$setElementOrder/"
DELETE_FROM = "$deleteFromPrimitiveList/"


def merge_key(kind: str, path: Path) -> str | None:
    """The merge key of the list at ``path`` (field names from the object's root), if any."""
    field = path[-1]
    if field == "ports":
        if len(path) >= 2 and path[-2] in CONTAINER_LISTS:
            return "containerPort"
        return "port" if kind == "Service" and path == ("spec", "ports") else None
    if field == "addresses":
        return "type" if kind == "Node" and path == ("status", "addresses") else None
    return MERGE_KEYS.get(field)


def apply(original: Any, patch: Any, kind: str) -> Any:
    """``patch`` applied to ``original`` (a whole object of ``kind``); neither is modified."""
    if not isinstance(patch, dict):
        raise BadRequest("a strategic merge patch must be a JSON object")
    out = _merge_map(original if isinstance(original, dict) else {}, patch, kind, ())
    return {} if out is None else out


def _merge_map(original: dict[str, Any], patch: dict[str, Any], kind: str,
               path: Path) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    if directive not in (None, "merge"):
        raise BadRequest(f"Unknown patch type: {directive}")
    out = copy.deepcopy(original)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            before = out.get(key)
            merged = _merge_map(before if isinstance(before, dict) else {}, value, kind,
                                (*path, key))
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list):
            out[key] = _merge_list(out.get(key), value, kind, (*path, key))
        else:
            out[key] = copy.deepcopy(value)
    for key, value in patch.items():
        if key.startswith(DELETE_FROM):
            field = key[len(DELETE_FROM):]
            drop = value if isinstance(value, list) else []
            out[field] = [v for v in out.get(field) or [] if v not in drop]
    for key, value in patch.items():
        if key.startswith(ORDER) and isinstance(out.get(key[len(ORDER):]), list):
            field = key[len(ORDER):]
            out[field] = _ordered(out[field], value, merge_key(kind, (*path, field)))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(original: Any, patch: list[Any], kind: str, path: Path) -> list[Any]:
    before = original if isinstance(original, list) else []
    if path in PRIMITIVE_MERGE:
        return before + [v for v in patch if v not in before]
    key = merge_key(kind, path)
    if key is None or not all(isinstance(e, dict) for e in patch):
        return [copy.deepcopy(e) for e in patch]
    if any(e.get("$patch") == "replace" for e in patch):
        return [copy.deepcopy(e) for e in patch if "$patch" not in e]
    out = [copy.deepcopy(e) for e in before]
    for elem in patch:
        at = next((i for i, e in enumerate(out)
                   if isinstance(e, dict) and key in elem and e.get(key) == elem[key]), None)
        if elem.get("$patch") == "delete":
            out = [e for e in out if not (isinstance(e, dict) and e.get(key) == elem.get(key))]
        elif at is None:
            out.append(_merge_map({}, elem, kind, path) or {})
        else:
            out[at] = _merge_map(out[at], elem, kind, path) or {}
    return out


def _ordered(items: list[Any], order: Any, key: str | None) -> list[Any]:
    """``items`` in the order ``order`` names (by merge key, or by value for primitives);
    items it does not name keep their relative order, after the named ones."""
    if not isinstance(order, list):
        return items

    def ident(e: Any) -> Any:
        return e.get(key) if key is not None and isinstance(e, dict) else e

    wanted = [ident(o) for o in order]
    rank = {repr(w): i for i, w in enumerate(wanted)}
    named = sorted((e for e in items if repr(ident(e)) in rank), key=lambda e: rank[repr(ident(e))])
    return named + [e for e in items if repr(ident(e)) not in rank]
