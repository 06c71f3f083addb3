"""The StatefulSet controller: pods ``<name>-0`` .. ``<name>-(n-1)`` with stable identity.

Each pod gets ``hostname`` = its name, ``subdomain`` = ``spec.serviceName``
(so the headless Service gives it a DNS name), the labels
``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index`` and
``controller-revision-hash``. With ``podManagementPolicy: OrderedReady`` (the
default) pod i+1 is created only when pods 0..i are Running and Ready, and
scale-down removes the highest ordinal first, one at a time, once the others
are healthy; ``Parallel`` creates and deletes all at once. A deleted (or
Failed) pod is recreated under the same name. A template change rolls pods
from the highest ordinal down to ``partition`` (RollingUpdate) or waits for
the user to delete them (OnDelete).
"""

from __future__ import annotations

import copy
from typing import Any

from podnet.api.kinds import Obj, name_of, namespace_of
from podnet.controllers.base import Controller
from podnet.controllers.podutil import (
    REVISION_LABEL,
    group_by_owner,
    is_ready,
    is_running_and_ready,
    is_terminating,
    phase,
    template_revision,
    with_revision_annotation,
)
from podnet.controllers.replicaset import pod_from_template

POD_NAME = "statefulset.kubernetes.io/pod-name"
POD_INDEX = "apps.kubernetes.io/pod-index"
REVISION = REVISION_LABEL


def ordinal(sts_name: str, pod: Obj) -> int | None:
    prefix = sts_name + "-"
    name = name_of(pod)
    tail = name[len(prefix):]
    if name.startswith(prefix) and tail.isdigit() and str(int(tail)) == tail:
        return int(tail)
    return None


def sts_pod(sts: Obj, index: int, revision: str) -> Obj:
    spec = sts.get("spec") or {}
    pod = pod_from_template(sts, spec.get("template") or {})
    name = f"{name_of(sts)}-{index}"
    pod["metadata"]["name"] = name
    pod["metadata"]["labels"].update({POD_NAME: name, POD_INDEX: str(index), REVISION: revision})
    pod["spec"]["hostname"] = name
    if spec.get("serviceName"):
        pod["spec"]["subdomain"] = spec["serviceName"]
    return pod


class StatefulSetController(Controller):
    name = "statefulset"
    watches = ("statefulsets", "pods")

    async def reconcile(self) -> int:
        start = self.writes
        pods = self.objects("pods")
        owned = group_by_owner(pods, "StatefulSet")
        live: set[str] = set()
        for sts in self.objects("statefulsets"):
            uid = str(sts["metadata"].get("uid"))
            live.add(uid)
            await self.guard(f"statefulset {namespace_of(sts)}/{name_of(sts)}",
                             self._sync(sts, owned.get(uid, [])))
        await self.collect_orphans("pods", pods, "StatefulSet", "statefulsets", live)
        return self.writes - start

    async def _sync(self, sts: Obj, mine: list[Obj]) -> None:
        spec = sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        revision, stale = template_revision(sts, mine)
        if stale:
            sts = await self.update("statefulsets", with_revision_annotation(sts, revision))
        by_ord: dict[int, Obj] = {}
        for p in mine:
            i = ordinal(name_of(sts), p)
            if i is not None:
                by_ord[i] = p
        if not (sts.get("metadata") or {}).get("deletionTimestamp"):
            await self._scale(sts, by_ord, replicas, ordered, revision)
            await self._roll(sts, by_ord, replicas, revision)
        await self._status(sts, by_ord, replicas, revision)

    async def _scale(self, sts: Obj, by_ord: dict[int, Obj], replicas: int, ordered: bool,
                     revision: str) -> None:
        for i in range(replicas):
            pod = by_ord.get(i)
            if pod is not None and phase(pod) == "Failed" and not is_terminating(pod):
                await self.delete("pods", pod)  # recreated under the same name next pass
                del by_ord[i]
                pod = None
            if pod is None:
                by_ord[i] = await self.create("pods", sts_pod(sts, i, revision))
                if ordered:
                    return
            elif ordered and not is_running_and_ready(pod):
                return
        extra = sorted((i for i in by_ord if i >= replicas), reverse=True)
        if ordered:
            if any(is_terminating(by_ord[i]) for i in extra):
                return
            if not all(is_running_and_ready(by_ord[i]) for i in range(replicas) if i in by_ord):
                return
            extra = extra[:1]
        for i in extra:
            if not is_terminating(by_ord[i]):
                await self.delete("pods", by_ord[i])

    async def _roll(self, sts: Obj, by_ord: dict[int, Obj], replicas: int, revision: str) -> None:
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        current = [by_ord[i] for i in range(replicas) if i in by_ord]
        if len(current) < replicas or not all(is_running_and_ready(p) for p in current):
            return
        for i in range(replicas - 1, partition - 1, -1):
            pod = by_ord[i]
            if (pod.get("metadata") or {}).get("labels", {}).get(REVISION) != revision:
                await self.delete("pods", pod)
                return

    async def _status(self, sts: Obj, by_ord: dict[int, Obj], replicas: int,
                      revision: str) -> None:
        pods = [p for p in by_ord.values() if not is_terminating(p)]
        updated = [p for p in pods
                   if ((p.get("metadata") or {}).get("labels") or {}).get(REVISION) == revision]
        old_status: dict[str, Any] = dict(sts.get("status") or {})
        status = copy.deepcopy(old_status)
        current_rev = old_status.get("currentRevision") or revision
        if len(updated) == len(pods) == replicas:
            current_rev = revision
        status.update({
            "observedGeneration": (sts.get("metadata") or {}).get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": sum(1 for p in pods if is_ready(p)),
            "availableReplicas": sum(1 for p in pods if is_ready(p)),
            "currentReplicas": sum(
                1 for p in pods
                if ((p.get("metadata") or {}).get("labels") or {}).get(REVISION) == current_rev),
            "updatedReplicas": len(updated),
            "currentRevision": current_rev,
            "updateRevision": revision,
        })
        if status != old_status:
            current = self.cached("statefulsets", namespace_of(sts), name_of(sts)) or sts
            await self.update_status("statefulsets", {**current, "status": status})
