"""Deletion as the Kubernetes API server does it, per kind.

* Pods bound to a node (``spec.nodeName``) with a grace period > 0 (default:
  the pod's ``terminationGracePeriodSeconds``, else 30) are not removed: their
  ``metadata.deletionTimestamp`` (now + grace) and ``deletionGracePeriodSeconds``
  are set, a MODIFIED event tells the node agent to stop them, and the agent
  (or the pod GC controller) finishes with grace period 0. Unbound pods and
  pods that already finished go at once. A second graceful delete may only
  shorten the grace period.
* Namespaces: the first delete sets ``deletionTimestamp`` and
  ``status.phase: Terminating`` (new objects are then refused); the namespace
  controller deletes the content and deletes again, which removes the
  namespace once nothing is left in it. default, kube-system and kube-public
  cannot be deleted.
* Everything else is removed at once.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from podnet.api.kinds import KINDS, Obj, meta, rfc3339
from podnet.apiserver.errors import Forbidden
from podnet.store.base import Store, check_version

PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
DEFAULT_GRACE_SECONDS = 30


async def delete_now(
    store: Store, resource: str, namespace: str, name: str, resource_version: str | None, dry_run: bool
) -> Obj:
    if dry_run:
        stored = await store.get(resource, namespace, name)
        if resource_version:
            check_version({"metadata": {"resourceVersion": resource_version}}, stored)
        return stored
    return await store.delete(resource, namespace, name, resource_version)


async def mark_deleted(
    store: Store, resource: str, stored: Obj, grace: int, dry_run: bool, status: dict[str, Any] | None = None
) -> Obj:
    out = copy.deepcopy(stored)
    meta(out)["deletionTimestamp"] = rfc3339(time.time() + grace)
    meta(out)["deletionGracePeriodSeconds"] = grace
    if status is not None:
        out["status"] = {**(out.get("status") or {}), **status}
    if dry_run:
        return out
    return await store.update(resource, out)


async def delete_pod(
    store: Store, namespace: str, name: str, resource_version: str | None, grace: int | None, dry_run: bool
) -> Obj:
    stored = await store.get("pods", namespace, name)
    if resource_version:
        check_version({"metadata": {"resourceVersion": resource_version}}, stored)
    spec, sm = stored.get("spec") or {}, meta(stored)
    if grace is None:
        grace = int(spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS) or 0)
    phase = (stored.get("status") or {}).get("phase")
    if grace <= 0 or not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return await delete_now(store, "pods", namespace, name, sm.get("resourceVersion"), dry_run)
    current = sm.get("deletionGracePeriodSeconds")
    if sm.get("deletionTimestamp") and current is not None and int(current) <= grace:
        return stored  # already terminating at least as fast
    return await mark_deleted(store, "pods", stored, grace, dry_run)


async def delete_namespace(store: Store, name: str, resource_version: str | None, dry_run: bool) -> Obj:
    if name in PROTECTED_NAMESPACES:
        raise Forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted')
    stored = await store.get("namespaces", "", name)
    if resource_version:
        check_version({"metadata": {"resourceVersion": resource_version}}, stored)
    if not meta(stored).get("deletionTimestamp"):
        return await mark_deleted(store, "namespaces", stored, 0, dry_run, {"phase": "Terminating"})
    for k in KINDS:
        if k.namespaced:
            items, _ = await store.list(k.plural, name)
            if items:
                return stored  # the namespace controller still has content to remove
    return await delete_now(store, "namespaces", "", name, None, dry_run)
