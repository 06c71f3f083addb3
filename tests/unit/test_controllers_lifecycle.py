"""Namespaces, default objects, node heartbeats and pod garbage collection."""

from __future__ import annotations

import ipaddress
import time

from controller_world import aio, cluster, items, pod, run_pod, service, settle

from podnet.api.kinds import rfc3339
from podnet.controllers.defaults import DefaultsController
from podnet.controllers.endpointslice import EndpointSliceController
from podnet.controllers.namespace import NAME_LABEL, NamespaceController
from podnet.controllers.node_lifecycle import NodeLifecycleController
from podnet.controllers.pod_gc import PodGCController
from podnet.controllers.service_repair import ServiceRepairController
from podnet.store.base import NotFound
from podnet.store.memory import MemoryStore


@aio
async def test_default_objects_exist() -> None:
    store = MemoryStore()  # also works straight on a backend, without admission
    await settle(store, [DefaultsController, NamespaceController])
    names = [n["metadata"]["name"] for n in await items(store, "namespaces")]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    ns = await store.get("namespaces", "", "kube-system")
    assert ns["metadata"]["labels"][NAME_LABEL] == "kube-system"
    assert ns["status"]["phase"] == "Active"
    svc = await store.get("services", "default", "kubernetes")
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP",
                                     "targetPort": 6443}]
    assert "selector" not in svc["spec"]
    # deleted defaults come back
    await store.delete("services", "default", "kubernetes")
    await settle(store, [DefaultsController])
    assert (await store.get("services", "default", "kubernetes"))["spec"]["clusterIP"] == \
        "10.96.0.1"


@aio
async def test_namespace_deletion_deletes_its_contents() -> None:
    reg = await cluster(namespaces=("default", "team"))
    await reg.create("services", service("web", {"app": "web"}, [{"port": 80}], ns="team"))
    await reg.create("pods", pod("loose", {"app": "web"}, ns="team"))
    await reg.create("pods", pod("bound", {"app": "web"}, ns="team", nodeName="node-1"))
    await reg.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "cfg", "namespace": "team"}})
    await reg.create("pods", pod("keep", {"app": "web"}))
    await reg.delete("namespaces", "", "team")
    assert (await reg.get("namespaces", "", "team"))["status"]["phase"] == "Terminating"
    await settle(reg, [NamespaceController])
    # everything is gone but the bound pod, which terminates gracefully on its node...
    left = await items(reg, "pods", "team")
    assert [p["metadata"]["name"] for p in left] == ["bound"]
    assert left[0]["metadata"]["deletionTimestamp"]
    for resource in ("services", "configmaps"):
        assert await items(reg, resource, "team") == []
    assert (await reg.get("namespaces", "", "team"))["status"]["phase"] == "Terminating"
    # ...until its node agent finishes it; then the namespace goes too
    await reg.delete("pods", "team", "bound", grace_period_seconds=0)
    await settle(reg, [NamespaceController])
    try:
        await reg.get("namespaces", "", "team")
        raise AssertionError("namespace team still exists")
    except NotFound:
        pass
    assert [p["metadata"]["name"] for p in await items(reg, "pods")] == ["keep"]


@aio
async def test_stale_node_turns_not_ready_and_its_endpoints_unready() -> None:
    reg = await cluster(nodes=2)
    start = time.time()
    for n in ("node-1", "node-2"):
        node = await reg.get("nodes", "", n)
        node["status"]["conditions"][0]["lastHeartbeatTime"] = rfc3339(start)
        await reg.update_status("nodes", node)
    await reg.create("pods", pod("a", {"app": "web"}))
    await reg.create("pods", pod("b", {"app": "web"}))
    await run_pod(reg, "default", "a", "10.244.1.2", "node-1")
    await run_pod(reg, "default", "b", "10.244.2.2", "node-2")
    await reg.create("services", service("web", {"app": "web"}, [{"port": 80}]))
    ctrls = [NodeLifecycleController, EndpointSliceController]
    await settle(reg, ctrls, node_grace_seconds=5, clock=lambda: start + 2)
    assert all(c["status"] == "True" for n in await items(reg, "nodes")
               for c in n["status"]["conditions"])
    # node-2 keeps renewing its Lease; node-1 falls silent
    await reg.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": "kube-node-lease"}})
    await reg.create("leases", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                "metadata": {"name": "node-2", "namespace": "kube-node-lease"},
                                "spec": {"holderIdentity": "node-2",
                                         "renewTime": rfc3339(start + 9) }})
    await settle(reg, ctrls, node_grace_seconds=5, clock=lambda: start + 10)
    n1 = await reg.get("nodes", "", "node-1")
    ready = next(c for c in n1["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")
    n2 = await reg.get("nodes", "", "node-2")
    assert n2["status"]["conditions"][0]["status"] == "True"
    eps = {e["targetRef"]["name"]: e["conditions"]["ready"]
           for s in await items(reg, "endpointslices") for e in s["endpoints"]}
    assert eps == {"a": False, "b": True}


@aio
async def test_pod_gc_removes_pods_of_missing_nodes_and_expired_terminating_pods() -> None:
    reg = await cluster(nodes=1)
    await reg.create("pods", pod("ghost", {"a": "b"}, nodeName="node-9"))
    await reg.create("pods", pod("fine", {"a": "b"}, nodeName="node-1"))
    await reg.create("pods", pod("ending", {"a": "b"}, nodeName="node-1"))
    await reg.delete("pods", "default", "ending")  # graceful: 30 s
    await settle(reg, [PodGCController])
    names = [p["metadata"]["name"] for p in await items(reg, "pods")]
    assert names == ["ending", "fine"]  # node-1 is Ready: its agent finishes "ending"
    node = await reg.get("nodes", "", "node-1")
    node["status"]["conditions"][0]["status"] = "Unknown"
    await reg.update_status("nodes", node)
    await settle(reg, [PodGCController], clock=lambda: time.time() + 60)
    assert [p["metadata"]["name"] for p in await items(reg, "pods")] == ["fine"]


@aio
async def test_service_without_cluster_ip_is_repaired() -> None:
    store = MemoryStore()  # written straight into a backend: no admission allocated it
    await store.create("services", service("raw", {"app": "raw"}, [{"port": 80}]))
    await store.create("services", service("name", None, [], type="ExternalName",
                                            externalName="example.com"))
    await settle(store, [ServiceRepairController])
    raw = await store.get("services", "default", "raw")
    ip = raw["spec"]["clusterIP"]
    assert raw["spec"]["clusterIPs"] == [ip]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12")
    assert ip not in ("10.96.0.1", "10.96.0.10")
    assert "clusterIP" not in (await store.get("services", "default", "name"))["spec"]
