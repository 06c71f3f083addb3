"""Objects every cluster has: the system namespaces and the ``kubernetes`` Service.

Namespaces ``default``, ``kube-system``, ``kube-public`` and ``kube-node-lease``
and, in ``default``, the selector-less Service ``kubernetes`` (ClusterIP the
first address of the service range, 10.96.0.1 by default; port 443 named
``https`` to targetPort 6443), as the Kubernetes API server creates them. They
are created when missing and recreated if deleted; existing ones (say, from a
dump of a real cluster) are left as they are.
"""

from __future__ import annotations

from podnet.api.config import ClusterConfig
from podnet.api.kinds import Obj
from podnet.controllers.base import Controller
from podnet.store.base import AlreadyExists

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}}


def kubernetes_service(config: ClusterConfig) -> Obj:
    ip = config.kubernetes_service_ip
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
        },
    }


class DefaultsController(Controller):
    name = "defaults"
    watches = ("namespaces", "services")

    async def reconcile(self) -> int:
        start = self.writes
        for name in SYSTEM_NAMESPACES:
            if self.cached("namespaces", "", name) is None:
                await self.guard(f"namespace {name}", self._create("namespaces", namespace(name)))
        default = self.cached("namespaces", "", "default")
        if (default is not None and not default["metadata"].get("deletionTimestamp")
                and self.cached("services", "default", "kubernetes") is None):
            await self.guard("service default/kubernetes",
                             self._create("services", kubernetes_service(self.config)))
        return self.writes - start

    async def _create(self, resource: str, obj: Obj) -> None:
        try:
            await self.create(resource, obj)
        except AlreadyExists:
            self.informer(resource).observe(
                await self.store.get(resource, obj["metadata"].get("namespace", ""),
                                     obj["metadata"]["name"]))
