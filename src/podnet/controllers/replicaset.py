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

import copy
from typing import Any

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
                for i in range(want - len(active)):
                    seed = f"{namespace_of(rs)}/{name_of(rs)}/{len(active) + i}"
                    pod = await self.create_named(
                        "pods", pod_from_template(rs, template), name_of(rs)[:57] + "-", seed)
                    active.append(pod)
            elif len(active) > want:
                doomed = sorted(active, key=deletion_rank)[: len(active) - want]
                for pod in doomed:
                    await self.delete("pods", pod)
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
