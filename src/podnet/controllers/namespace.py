"""The Namespace controller: labels namespaces and empties the ones being deleted.

Every namespace carries the label ``kubernetes.io/metadata.name: <name>`` and
``status.phase: Active``. A namespace with ``metadata.deletionTimestamp`` (the
Registry sets it and phase Terminating on delete) has its contents deleted,
workloads first so they do not recreate pods; once nothing is left in it the
namespace is deleted again, which removes it for good. Pods that terminate
gracefully keep the namespace until they are gone (the pass is retried).
"""

from __future__ import annotations

import copy

from podnet.api.kinds import KINDS, Obj, name_of
from podnet.controllers.base import Controller

NAME_LABEL = "kubernetes.io/metadata.name"
_FIRST = ("deployments", "statefulsets", "daemonsets", "replicasets")
NAMESPACED = tuple(_FIRST) + tuple(
    k.plural for k in KINDS if k.namespaced and k.plural not in _FIRST)


class NamespaceController(Controller):
    name = "namespace"
    watches = ("namespaces",)

    async def reconcile(self) -> int:
        start = self.writes
        for ns in self.objects("namespaces"):
            if (ns.get("metadata") or {}).get("deletionTimestamp"):
                await self.guard(f"finalize namespace {name_of(ns)}", self._finalize(ns))
            else:
                await self.guard(f"namespace {name_of(ns)}", self._label(ns))
        return self.writes - start

    async def _label(self, ns: Obj) -> None:
        name = name_of(ns)
        labels = (ns.get("metadata") or {}).get("labels") or {}
        if labels.get(NAME_LABEL) != name:
            out = copy.deepcopy(ns)
            out["metadata"].setdefault("labels", {})[NAME_LABEL] = name
            ns = await self.update("namespaces", out)
        if (ns.get("status") or {}).get("phase") != "Active":
            status = dict(ns.get("status") or {})
            status["phase"] = "Active"
            await self.update_status("namespaces", {**ns, "status": status})

    async def _finalize(self, ns: Obj) -> None:
        name = name_of(ns)
        for resource in NAMESPACED:
            items, _ = await self.store.list(resource, name)
            for obj in items:
                if not (obj.get("metadata") or {}).get("deletionTimestamp"):
                    await self.guard(f"delete {resource} {name}/{name_of(obj)}",
                                     self.delete(resource, obj))
        for resource in NAMESPACED:
            items, _ = await self.store.list(resource, name)
            if items:
                self.retry = True  # come back when graceful deletions have finished
                return
        await self.delete("namespaces", ns)
