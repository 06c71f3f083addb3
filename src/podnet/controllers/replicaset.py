"""The ReplicaSet controller: keeps ``spec.replicas`` active pods per ReplicaSet.

Pods it owns carry an ownerReference (``controller: true``) to the ReplicaSet;
orphans that match the selector are adopted. Missing pods are created from the
template and named ``<replicaset>-<5 chars>``; surplus ones are deleted in
Kubernetes' order of preference: unscheduled before scheduled, Pending before
Running, not-ready before ready, newest first. Terminating and finished pods do
not count. Status reports replicas, fullyLabeledReplicas, readyReplicas,
availableReplicas (Ready for ``minReadySeconds``) and observedGeneration.
Pods whose ReplicaSet is gone are garbage-collected.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from podnet.api.kinds import Obj, labels_of, name_of, namespace_of
from podnet.api.selectors import from_label_selector
from podnet.controllers.base import Controller
from podnet.controllers.podutil import (
    controller_ref,
    group_by_owner,
    is_active,
    is_available,
    is_ready,
    owner_reference,
    phase,
)

T = TypeVar("T")
SLOW_START_INITIAL = 1  # Kubernetes' SlowStartInitialBatchSize
BURST = 500  # the largest batch (Kubernetes: burstReplicas)
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """Smaller sorts first = deleted first when scaling down."""
    m = pod.get("metadata") or {}
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        _PHASE_RANK.get(phase(pod), 0),
        1 if is_ready(pod) else 0,
        # newest first: invert the timestamp's order by negating each character
        tuple(-ord(ch) for ch in str(m.get("creationTimestamp") or "")),
        tuple(-ord(ch) for ch in name_of(pod)),
    )


def pod_from_template(owner: Obj, template: dict[str, Any]) -> Obj:
    tm = template.get("metadata") or {}
    meta: dict[str, Any] = {
        "namespace": namespace_of(owner),
        "labels": dict(tm.get("labels") or {}),
        "ownerReferences": [owner_reference(owner)],
    }
    if tm.get("annotations"):
        meta["annotations"] = dict(tm["annotations"])
    if tm.get("finalizers"):
        meta["finalizers"] = list(tm["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


async def slow_start(count: int, start: Callable[[int], Awaitable[T]], done: Callable[[T], Any],
                     first: int = SLOW_START_INITIAL) -> None:
    """Run ``start(0..count-1)`` concurrently in batches of 1, 2, 4, ... (at most BURST), like
    Kubernetes' slow start: a failing batch stops the rest (its first error is raised), so a
    broken template or a quota costs one failed write, not ``count``. Concurrent writes share
    the store's commits (SQLite group commit) instead of paying one fsync each."""
    i, size = 0, max(1, min(first, BURST))
    while i < count:
        n = min(size, count - i)
        results = await asyncio.gather(*(start(i + k) for k in range(n)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for r in results:
            if not isinstance(r, BaseException):
                done(r)
        if errors:
            raise errors[0]
        i += n
        size = min(size * 2, BURST)


class ReplicaSetController(Controller):
    name = "replicaset"
    watches = ("replicasets", "pods")

    async def reconcile(self) -> int:
        start = self.writes
        pods = self.objects("pods")
        owned = group_by_owner(pods, "ReplicaSet")
        orphans: dict[str, list[Obj]] = {}
        for p in pods:
            if controller_ref(p) is None and is_active(p):
                orphans.setdefault(namespace_of(p), []).append(p)
        live: set[str] = set()
        for rs in self.objects("replicasets"):
            uid = str(rs["metadata"].get("uid"))
            live.add(uid)
            mine = list(owned.get(uid, []))
            await self.guard(f"replicaset {namespace_of(rs)}/{name_of(rs)}",
                             self._sync(rs, mine, orphans.get(namespace_of(rs), [])))
        await self.collect_orphans("pods", pods, "ReplicaSet", "replicasets", live)
        return self.writes - start

    async def _sync(self, rs: Obj, mine: list[Obj], orphans: list[Obj]) -> None:
        spec = rs.get("spec") or {}
        if not (rs.get("metadata") or {}).get("deletionTimestamp"):
            mine += await self._adopt(rs, orphans)
        active = [p for p in mine if is_active(p)]
        want = int(spec.get("replicas", 1))
        if not (rs.get("metadata") or {}).get("deletionTimestamp"):
            if len(active) < want:
                template = spec.get("template") or {}
                base, have = len(active), len(active)

                def make(i: int) -> Awaitable[Obj]:
                    seed = f"{namespace_of(rs)}/{name_of(rs)}/{base + i}"
                    return self.create_named(
                        "pods", pod_from_template(rs, template), name_of(rs)[:57] + "-", seed)

                try:
                    await slow_start(want - have, make, active.append)
                finally:
                    if len(active) > have:  # report what exists even if a batch failed
                        await self._status(rs, active)
                return
            if len(active) > want:
                doomed = sorted(active, key=deletion_rank)[: len(active) - want]

                def kill(i: int) -> Awaitable[None]:
                    return self.delete("pods", doomed[i])

                await slow_start(len(doomed), kill, lambda _: None, first=len(doomed))
                for pod in doomed:
                    active.remove(pod)
        await self._status(rs, active)

    async def _adopt(self, rs: Obj, orphans: list[Obj]) -> list[Obj]:
        """Take pods of the namespace that match the selector and have no controller."""
        sel = from_label_selector((rs.get("spec") or {}).get("selector"))
        if sel.empty or not orphans:
            return []
        adopted = []
        for p in list(orphans):
            if controller_ref(p) is not None or not sel.matches(labels_of(p)):
                continue
            orphans.remove(p)
            q = copy.deepcopy(p)
            refs = q["metadata"].setdefault("ownerReferences", [])
            refs.append(owner_reference(rs))
            adopted.append(await self.update("pods", q))
        return adopted

    async def _status(self, rs: Obj, active: list[Obj]) -> None:
        spec = rs.get("spec") or {}
        sel = from_label_selector(spec.get("selector"))
        tlabels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self.now()
        status = dict(rs.get("status") or {})
        status.update({
            "replicas": len(active),
            "fullyLabeledReplicas": sum(
                1 for p in active
                if sel.matches(labels_of(p)) and all(labels_of(p).get(k) == v
                                                     for k, v in tlabels.items())),
            "readyReplicas": sum(1 for p in active if is_ready(p)),
            "availableReplicas": sum(1 for p in active if is_available(p, min_ready, now)),
            "observedGeneration": (rs.get("metadata") or {}).get("generation", 1),
        })
        if status != (rs.get("status") or {}):
            current = self.cached("replicasets", namespace_of(rs), name_of(rs)) or rs
            await self.update_status("replicasets", {**current, "status": status})
