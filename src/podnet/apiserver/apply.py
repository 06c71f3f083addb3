"""Client-side apply, all or nothing: what ``podnet apply -f`` does against any Store.

Every object is first checked by a server-side dry run (so a nodePort already
taken or a missing namespace is found before anything changes); only when all
pass are they written, Namespaces first. An update keeps what the server
allocated (clusterIP, nodePorts, healthCheckNodePort), the object's identity
and its status, as ``kubectl apply`` leaves them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from podnet.api.kinds import Obj, kind_of, name_of, namespace_of, ref
from podnet.store.base import NotFound, Store, StoreError

_IDENTITY = ("uid", "resourceVersion", "creationTimestamp", "generation", "ownerReferences",
             "finalizers", "deletionTimestamp", "deletionGracePeriodSeconds")


@dataclass
class ApplyProblem:
    ref: str
    message: str


@dataclass
class ApplyFailed(Exception):
    problems: list[ApplyProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(f"Error from server ({p.ref}): {p.message}" for p in self.problems)


@dataclass
class Planned:
    obj: Obj
    action: str  # "created" | "configured" | "unchanged"
    existing: Obj | None = None


def _keep_allocated(svc: Obj, old: Obj) -> None:
    spec, old_spec = svc.setdefault("spec", {}), old.get("spec") or {}
    if spec.get("type", "ClusterIP") == "ExternalName":
        return
    for fld in ("clusterIP", "clusterIPs"):
        if not spec.get(fld) and old_spec.get(fld):
            spec[fld] = copy.deepcopy(old_spec[fld])
    if not spec.get("healthCheckNodePort") and old_spec.get("healthCheckNodePort"):
        spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in old_spec.get("ports") or []}
    for p in spec.get("ports") or []:
        prev = old_ports.get((p.get("port"), p.get("protocol", "TCP")))
        if prev and not p.get("nodePort") and prev.get("nodePort"):
            p["nodePort"] = prev["nodePort"]


def merge_for_update(new: Obj, old: Obj) -> Obj:
    """``new`` as it should be stored over ``old``: identity, allocations and status kept."""
    out = copy.deepcopy(new)
    meta, old_meta = out.setdefault("metadata", {}), old.get("metadata") or {}
    for k in _IDENTITY:
        if k in old_meta and k not in meta:
            meta[k] = copy.deepcopy(old_meta[k])
    if "status" in old:
        out["status"] = copy.deepcopy(old["status"])
    if out.get("kind") == "Service":
        _keep_allocated(out, old)
    return out


def _comparable(o: Obj) -> dict[str, Any]:
    m = o.get("metadata") or {}
    body = {k: v for k, v in o.items() if k not in ("metadata", "status")}
    return {"labels": m.get("labels") or {}, "annotations": m.get("annotations") or {}, "body": body}


async def plan(store: Store, objs: list[Obj]) -> list[Planned]:
    """Decide create/configure/unchanged for each object, Namespaces first."""
    ordered = sorted(objs, key=lambda o: 0 if o.get("kind") == "Namespace" else 1)
    out: list[Planned] = []
    for obj in ordered:
        k = kind_of(obj)
        try:
            old = await store.get(k.plural, namespace_of(obj), name_of(obj))
        except NotFound:
            out.append(Planned(obj, "created"))
            continue
        merged = merge_for_update(obj, old)
        same = _comparable(merged) == _comparable(old)
        out.append(Planned(merged, "unchanged" if same else "configured", old))
    return out


async def apply_all(store: Any, objs: list[Obj]) -> list[str]:
    """Dry-run every write, then do them all; returns kubectl-style lines
    (``service/web created``). Raises ApplyFailed listing every problem, having
    changed nothing. ``store`` must accept ``dry_run`` (the Registry or the Client)."""
    planned = await plan(store, objs)
    batch_namespaces = {name_of(p.obj) for p in planned if p.obj.get("kind") == "Namespace"}
    problems: list[ApplyProblem] = []
    for p in planned:
        if p.action == "unchanged":
            continue
        k = kind_of(p.obj)
        try:
            if p.action == "created":
                await store.create(k.plural, p.obj, dry_run=True)
            else:
                await store.update(k.plural, p.obj, dry_run=True)
        except NotFound as e:
            if namespace_of(p.obj) in batch_namespaces and "namespaces" in str(e):
                continue
            problems.append(ApplyProblem(ref(p.obj), str(e)))
        except StoreError as e:
            problems.append(ApplyProblem(ref(p.obj), str(e)))
    if problems:
        raise ApplyFailed(problems)
    lines: list[str] = []
    for p in planned:
        k = kind_of(p.obj)
        if p.action == "created":
            await store.create(k.plural, p.obj)
        elif p.action == "configured":
            await store.update(k.plural, p.obj)
        prefix = k.singular if not k.group else f"{k.singular}.{k.group}"
        lines.append(f"{prefix}/{name_of(p.obj)} {p.action}")
    return lines
