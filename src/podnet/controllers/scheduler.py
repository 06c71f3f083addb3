"""The scheduler: binds pods that have no ``spec.nodeName`` to a node.

Filters as kube-scheduler's default plugins do for what podnet models (node
Ready, not cordoned, nodeSelector, required node affinity, taints, the node's
``status.allocatable.pods``), then picks
the least-loaded node by number of active pods, ties broken by node name. Pods
are taken in (namespace, name) order so the same inputs bind the same way.
A pod that fits nowhere gets ``PodScheduled=False`` with reason Unschedulable
and Kubernetes' message, e.g. ``0/3 nodes are available: 3 node(s) didn't
match Pod's node affinity/selector.``; it is retried on every node change.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import Awaitable
from typing import Any

from podnet.api.kinds import Obj, name_of
from podnet.controllers.base import Controller
from podnet.controllers.nodefit import misfit
from podnet.controllers.podutil import condition, is_active, set_condition
from podnet.store.base import WatchEvent

TOO_MANY_PODS = "Too many pods"
BATCH = 500  # bindings written concurrently


def capacity(node: Obj) -> int | float:
    """How many pods the node takes (``status.allocatable.pods``; unlimited if unset)."""
    value = ((node.get("status") or {}).get("allocatable") or {}).get("pods")
    try:
        return int(value) if value is not None else float("inf")
    except (TypeError, ValueError):
        return float("inf")


def unschedulable_message(total: int, reasons: Counter[str]) -> str:
    if total == 0:
        return "no nodes available to schedule pods"
    parts = [f"{n} {r}" for r, n in sorted(reasons.items())]
    return f"0/{total} nodes are available: {', '.join(parts)}."


class Scheduler(Controller):
    name = "scheduler"
    watches = ("pods", "nodes")

    def wakes(self, resource: str, ev: WatchEvent) -> bool:
        """Pods to place, and pods leaving (capacity freed); not the status updates of bound
        pods, which are most events in a busy cluster."""
        if resource != "pods" or ev.type == "DELETED":
            return True
        pod = ev.object
        return not (pod.get("spec") or {}).get("nodeName") or not is_active(pod)

    async def reconcile(self) -> int:
        start = self.writes
        pods = self.objects("pods")
        nodes = sorted(self.objects("nodes"), key=name_of)
        load: Counter[str] = Counter(
            str(p["spec"].get("nodeName")) for p in pods
            if (p.get("spec") or {}).get("nodeName") and is_active(p)
        )
        work: list[Awaitable[None]] = []
        for pod in pods:
            spec = pod.get("spec") or {}
            if spec.get("nodeName") or not is_active(pod):
                continue
            if spec.get("schedulerName") not in (None, "", "default-scheduler"):
                continue
            # decisions are made one pod after the other (each counts in ``load``); the
            # writes they need are independent and go out concurrently, so a store with
            # group commit (SQLite) shares one commit between many bindings
            work.append(self.guard(f"schedule pod {pod['metadata'].get('namespace')}/{name_of(pod)}",
                                   self._schedule(pod, *self._place(pod, nodes, load))))
            if len(work) >= BATCH:
                await asyncio.gather(*work)
                work = []
        await asyncio.gather(*work)
        return self.writes - start

    def _place(self, pod: Obj, nodes: list[Obj], load: Counter[str]) -> tuple[str | None, str]:
        """(the node for ``pod``, counted in ``load``, or None; the Unschedulable message)."""
        spec: dict[str, Any] = pod.get("spec") or {}
        reasons: Counter[str] = Counter()
        best: str | None = None
        for node in nodes:
            why = misfit(spec, node)
            if why is not None:
                reasons[why] += 1
                continue
            n = name_of(node)
            if load[n] >= capacity(node):
                reasons[TOO_MANY_PODS] += 1
                continue
            if best is None or (load[n], n) < (load[best], best):
                best = n
        if best is None:
            return None, unschedulable_message(len(nodes), reasons)
        load[best] += 1
        return best, ""

    async def _schedule(self, pod: Obj, place: str | None, message: str) -> None:
        if place is None:
            await self._mark_unschedulable(pod, message)
            return
        bound = copy.deepcopy(pod)
        bound["spec"]["nodeName"] = place
        out = await self.update("pods", bound)
        cond = condition(out, "PodScheduled")
        if cond is not None and cond.get("status") != "True":
            status = copy.deepcopy(out.get("status") or {})
            status["conditions"] = [
                c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"
            ] + [{"type": "PodScheduled", "status": "True", "lastTransitionTime": self.now_str()}]
            await self.update_status("pods", {**out, "status": status})

    async def _mark_unschedulable(self, pod: Obj, message: str) -> None:
        status = copy.deepcopy(pod.get("status") or {})
        status.setdefault("phase", "Pending")
        changed = set_condition(status, {
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastProbeTime": None,
        }, self.now_str())
        if changed or (pod.get("status") or {}).get("phase") != status["phase"]:
            await self.update_status("pods", {**pod, "status": status})
