"""The DaemonSet controller: one pod per eligible node, bound directly.

A node is eligible when it matches the template's nodeSelector and required
node affinity and every NoSchedule/NoExecute taint is tolerated (DaemonSet pods
also tolerate the not-ready, unreachable, pressure and unschedulable taints,
as Kubernetes adds them). Pods are named ``<daemonset>-<5 chars>`` with
``spec.nodeName`` set, so the scheduler never sees them. Nodes joining get a
pod; pods on nodes that left or no longer fit are deleted, duplicates too.
RollingUpdate (default, maxUnavailable 1) replaces out-of-date pods while at
most maxUnavailable of the desired pods are unavailable; OnDelete waits.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from podnet.api.kinds import Obj, name_of, namespace_of
from podnet.controllers.base import Controller
from podnet.controllers.nodefit import DAEMON_TOLERATIONS, daemon_fits
from podnet.controllers.podutil import (
    REVISION_LABEL,
    group_by_owner,
    is_active,
    is_available,
    is_ready,
    template_revision,
    with_revision_annotation,
)
from podnet.controllers.replicaset import pod_from_template


def _labels(p: Obj) -> dict[str, Any]:
    return (p.get("metadata") or {}).get("labels") or {}


class DaemonSetController(Controller):
    name = "daemonset"
    watches = ("daemonsets", "pods", "nodes")

    async def reconcile(self) -> int:
        start = self.writes
        pods = self.objects("pods")
        nodes = sorted(self.objects("nodes"), key=name_of)
        owned = group_by_owner(pods, "DaemonSet")
        live: set[str] = set()
        for ds in self.objects("daemonsets"):
            uid = str(ds["metadata"].get("uid"))
            live.add(uid)
            await self.guard(f"daemonset {namespace_of(ds)}/{name_of(ds)}",
                             self._sync(ds, owned.get(uid, []), nodes))
        await self.collect_orphans("pods", pods, "DaemonSet", "daemonsets", live)
        return self.writes - start

    async def _sync(self, ds: Obj, mine: list[Obj], nodes: list[Obj]) -> None:
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        tspec = template.get("spec") or {}
        revision, stale = template_revision(ds, mine)
        if stale:
            ds = await self.update("daemonsets", with_revision_annotation(ds, revision))
        eligible = [name_of(n) for n in nodes if daemon_fits(tspec, n)]
        by_node: dict[str, list[Obj]] = {}
        for p in mine:
            if is_active(p):
                by_node.setdefault(str((p.get("spec") or {}).get("nodeName") or ""), []).append(p)
        alive = not (ds.get("metadata") or {}).get("deletionTimestamp")
        if alive:
            for node in eligible:
                if node not in by_node:
                    by_node[node] = [await self._create(ds, node, revision)]
                for extra in sorted(by_node[node], key=name_of)[1:]:
                    await self.delete("pods", extra)
                by_node[node] = sorted(by_node[node], key=name_of)[:1]
            for node in [n for n in by_node if n not in eligible]:
                for p in by_node.pop(node):
                    await self.delete("pods", p)
            await self._roll(ds, by_node, revision)
        await self._status(ds, by_node, len(eligible), revision)

    async def _create(self, ds: Obj, node: str, revision: str) -> Obj:
        pod = pod_from_template(ds, (ds.get("spec") or {}).get("template") or {})
        pod["metadata"]["labels"][REVISION_LABEL] = revision
        pod["spec"]["nodeName"] = node
        tolerations = list(pod["spec"].get("tolerations") or [])
        for t in DAEMON_TOLERATIONS:
            if t not in tolerations:
                tolerations.append(dict(t))
        pod["spec"]["tolerations"] = tolerations
        seed = f"{namespace_of(ds)}/{name_of(ds)}/{node}"
        return await self.create_named("pods", pod, name_of(ds)[:57] + "-", seed)

    async def _roll(self, ds: Obj, by_node: dict[str, list[Obj]], revision: str) -> None:
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return
        value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1)
        desired = len(by_node)
        if isinstance(value, str) and value.endswith("%"):
            budget = max(math.floor(desired * int(value[:-1]) / 100), 1)
        else:
            budget = max(int(value), 1)
        pods = [ps[0] for _, ps in sorted(by_node.items())]
        budget -= sum(1 for p in pods if not is_ready(p))
        for p in pods:
            if budget <= 0:
                return
            if _labels(p).get(REVISION_LABEL) != revision and is_ready(p):
                await self.delete("pods", p)
                budget -= 1

    async def _status(self, ds: Obj, by_node: dict[str, list[Obj]], desired: int,
                      revision: str) -> None:
        pods = [ps[0] for ps in by_node.values() if ps]
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        now = self.now()
        status = copy.deepcopy(ds.get("status") or {})
        available = sum(1 for p in pods if is_available(p, min_ready, now))
        status.update({
            "observedGeneration": (ds.get("metadata") or {}).get("generation", 1),
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": len(pods),
            "numberMisscheduled": 0,
            "numberReady": sum(1 for p in pods if is_ready(p)),
            "numberAvailable": available,
            "numberUnavailable": max(desired - available, 0),
            "updatedNumberScheduled": sum(1 for p in pods
                                          if _labels(p).get(REVISION_LABEL) == revision),
        })
        if status != (ds.get("status") or {}):
            current = self.cached("daemonsets", namespace_of(ds), name_of(ds)) or ds
            await self.update_status("daemonsets", {**current, "status": status})
