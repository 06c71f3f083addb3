"""The Deployment controller: Deployment -> ReplicaSets, with rolling replacement.

The *new* ReplicaSet is the owned one whose pod template equals the
Deployment's (ignoring the ``pod-template-hash`` label), so a cluster dump with
Kubernetes-made ReplicaSets is recognised as is. When none matches, one is made
named ``<deployment>-<hash>`` with the hash as ``pod-template-hash`` label in its
selector, template and labels, and the next ``deployment.kubernetes.io/revision``.

RollingUpdate (default: maxSurge 25% rounded up, maxUnavailable 25% rounded
down, both 0 -> maxUnavailable 1) works like Kubernetes' rolling updater: the
new ReplicaSet grows while the total stays within replicas + maxSurge; old
ones shrink, first by their unavailable pods, then while the available pods
stay at or above replicas - maxUnavailable. Recreate scales the old ones to 0
and starts the new one once their pods are gone. Old ReplicaSets at 0 are kept
up to ``revisionHistoryLimit`` (default 10). Status counts come from the
ReplicaSets' status. ``spec.paused`` stops rollouts (status is still reported).
"""

from __future__ import annotations

import copy
import math
from typing import Any

from podnet.api.kinds import Obj, name_of, namespace_of
from podnet.controllers.base import Controller
from podnet.controllers.podutil import (
    group_by_owner,
    owner_reference,
    set_condition,
    template_hash,
)

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return t


def same_template(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal pod templates, ignoring the ``pod-template-hash`` label (no copies made)."""
    if {k: v for k, v in a.items() if k != "metadata"} != {
            k: v for k, v in b.items() if k != "metadata"}:
        return False
    ma, mb = a.get("metadata") or {}, b.get("metadata") or {}
    if {k: v for k, v in ma.items() if k != "labels"} != {
            k: v for k, v in mb.items() if k != "labels"}:
        return False
    la = {k: v for k, v in (ma.get("labels") or {}).items() if k != HASH_LABEL}
    return la == {k: v for k, v in (mb.get("labels") or {}).items() if k != HASH_LABEL}


def _scaled(value: Any, total: int, round_up: bool) -> int:
    if value is None:
        value = "25%"
    if isinstance(value, str) and value.endswith("%"):
        frac = total * int(value[:-1]) / 100
        return math.ceil(frac) if round_up else math.floor(frac)
    return int(value)


def surge_and_unavailable(dep: Obj) -> tuple[int, int]:
    spec = dep.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = _scaled(ru.get("maxSurge"), replicas, True)
    unavailable = _scaled(ru.get("maxUnavailable"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _replicas(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def _st(rs: Obj, key: str) -> int:
    return int((rs.get("status") or {}).get(key) or 0)


def _revision(rs: Obj) -> int:
    try:
        return int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


class DeploymentController(Controller):
    name = "deployment"
    watches = ("deployments", "replicasets")

    async def reconcile(self) -> int:
        start = self.writes
        all_rs = self.objects("replicasets")
        owned = group_by_owner(all_rs, "Deployment")
        live: set[str] = set()
        for dep in self.objects("deployments"):
            uid = str(dep["metadata"].get("uid"))
            live.add(uid)
            await self.guard(f"deployment {namespace_of(dep)}/{name_of(dep)}",
                             self._sync(dep, owned.get(uid, [])))
        await self.collect_orphans("replicasets", all_rs, "Deployment", "deployments", live)
        return self.writes - start

    async def _sync(self, dep: Obj, rss: list[Obj]) -> None:
        spec = dep.get("spec") or {}
        want = spec.get("template") or {}
        new = next((r for r in rss
                    if same_template((r.get("spec") or {}).get("template") or {}, want)), None)
        old = sorted((r for r in rss if r is not new), key=lambda r: (_revision(r), name_of(r)))
        if not (dep.get("metadata") or {}).get("deletionTimestamp") and not spec.get("paused"):
            if new is None:
                new = await self._create_new(dep, old)
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                await self._recreate(dep, new, old)
            else:
                await self._rolling(dep, new, old)
            await self._cleanup(dep, old)
        await self._status(dep, new, [r for r in old if self._cached(r)])

    def _cached(self, rs: Obj) -> Obj | None:
        return self.cached("replicasets", namespace_of(rs), name_of(rs))

    async def _create_new(self, dep: Obj, old: list[Obj]) -> Obj:
        spec = dep["spec"]
        collisions = int((dep.get("status") or {}).get("collisionCount") or 0)
        h = template_hash(_without_hash(spec.get("template") or {}), collisions)
        template = _without_hash(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        surge, _ = surge_and_unavailable(dep)
        replicas = int(spec.get("replicas", 1))
        rs = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name_of(dep)}-{h}", "namespace": namespace_of(dep),
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {REVISION: str(max([0, *map(_revision, old)]) + 1),
                                DESIRED: str(replicas), MAX_REPLICAS: str(replicas + surge)},
                "ownerReferences": [owner_reference(dep)],
            },
            "spec": {"replicas": 0, "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                     "selector": selector, "template": template},
        }
        return await self.create("replicasets", rs)

    async def _scale(self, dep: Obj, rs: Obj, replicas: int) -> Obj:
        current = self._cached(rs) or rs
        ann = (current.get("metadata") or {}).get("annotations") or {}
        want_desired = str((dep.get("spec") or {}).get("replicas", 1))
        if _replicas(current) == replicas and ann.get(DESIRED, want_desired) == want_desired:
            return current
        out = copy.deepcopy(current)
        out["spec"]["replicas"] = replicas
        out["metadata"].setdefault("annotations", {})[DESIRED] = want_desired
        return await self.update("replicasets", out)

    async def _recreate(self, dep: Obj, new: Obj, old: list[Obj]) -> None:
        for rs in old:
            await self._scale(dep, rs, 0)
        if all(_st(r, "replicas") == 0 for r in old):
            await self._scale(dep, new, int(dep["spec"].get("replicas", 1)))

    async def _rolling(self, dep: Obj, new: Obj, old: list[Obj]) -> None:
        replicas = int(dep["spec"].get("replicas", 1))
        surge, max_unavailable = surge_and_unavailable(dep)
        active_old = [r for r in old if _replicas(r) > 0]
        if not active_old:
            await self._scale(dep, new, replicas)
            return
        # 1. grow the new ReplicaSet within replicas + maxSurge.
        total = _replicas(new) + sum(_replicas(r) for r in active_old)
        target = _replicas(new)
        if _replicas(new) > replicas:
            target = replicas
        elif total < replicas + surge:
            target = min(replicas, _replicas(new) + replicas + surge - total)
        new = await self._scale(dep, new, target)
        # 2. shrink old ones: unhealthy pods first, then down to the availability floor.
        min_available = replicas - max_unavailable
        all_pods = _replicas(new) + sum(_replicas(r) for r in active_old)
        new_unavailable = max(_replicas(new) - _st(new, "availableReplicas"), 0)
        budget = all_pods - min_available - new_unavailable
        sizes = {name_of(r): _replicas(r) for r in active_old}
        for r in active_old:
            if budget <= 0:
                break
            unhealthy = max(sizes[name_of(r)] - _st(r, "availableReplicas"), 0)
            cut = min(budget, unhealthy)
            sizes[name_of(r)] -= cut
            budget -= cut
        available = _st(new, "availableReplicas") + sum(
            min(_st(r, "availableReplicas"), sizes[name_of(r)]) for r in active_old)
        budget = available - min_available
        for r in active_old:
            if budget <= 0:
                break
            cut = min(budget, sizes[name_of(r)])
            sizes[name_of(r)] -= cut
            budget -= cut
        for r in active_old:
            await self._scale(dep, r, sizes[name_of(r)])

    async def _cleanup(self, dep: Obj, old: list[Obj]) -> None:
        limit = int((dep.get("spec") or {}).get("revisionHistoryLimit", 10))
        idle = [r for r in old if _replicas(self._cached(r) or r) == 0 and _st(r, "replicas") == 0]
        for rs in idle[: max(len(idle) - limit, 0)]:
            await self.delete("replicasets", self._cached(rs) or rs)

    async def _status(self, dep: Obj, new: Obj | None, old: list[Obj]) -> None:
        spec = dep.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        rss = ([new] if new is not None else []) + old
        rss = [self._cached(r) or r for r in rss]
        _, max_unavailable = surge_and_unavailable(dep)
        available = sum(_st(r, "availableReplicas") for r in rss)
        updated = _st(self._cached(new) or new, "replicas") if new is not None else 0
        status = copy.deepcopy(dep.get("status") or {})
        status.update({
            "observedGeneration": (dep.get("metadata") or {}).get("generation", 1),
            "replicas": sum(_st(r, "replicas") for r in rss),
            "updatedReplicas": updated,
            "readyReplicas": sum(_st(r, "readyReplicas") for r in rss),
            "availableReplicas": available,
            "unavailableReplicas": max(replicas - available, 0),
        })
        now = self.now_str()
        ok = available >= replicas - max_unavailable
        set_condition(status, {
            "type": "Available", "status": "True" if ok else "False",
            "reason": "MinimumReplicasAvailable" if ok else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability." if ok
            else "Deployment does not have minimum availability.",
        }, now)
        done = new is not None and updated == replicas and status["replicas"] == replicas \
            and available >= replicas
        set_condition(status, {
            "type": "Progressing", "status": "True",
            "reason": "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
            "message": f'ReplicaSet "{name_of(new) if new else ""}" '
                       + ("has successfully progressed." if done else "is progressing."),
        }, now)
        if status != (dep.get("status") or {}):
            current = self.cached("deployments", namespace_of(dep), name_of(dep)) or dep
            await self.update_status("deployments", {**current, "status": status})
