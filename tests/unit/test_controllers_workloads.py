"""Deployment, ReplicaSet, StatefulSet and DaemonSet controllers over a Registry."""

from __future__ import annotations

from typing import Any

from controller_world import (
    active,
    aio,
    cluster,
    items,
    manager,
    node,
    pod,
    run_pod,
    settle,
    template,
)

from podnet.api.kinds import Obj
from podnet.controllers.daemonset import DaemonSetController
from podnet.controllers.deployment import HASH_LABEL, DeploymentController
from podnet.controllers.replicaset import ReplicaSetController
from podnet.controllers.scheduler import Scheduler
from podnet.controllers.statefulset import POD_INDEX, POD_NAME, StatefulSetController
from podnet.offline_kubelet import OfflineKubelet
from podnet.store.base import Store

APPS = [DeploymentController, ReplicaSetController, Scheduler]


def deployment(name: str, replicas: int, image: str = "img:1", **strategy: Any) -> Obj:
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                            "template": template({"app": name}, image)}
    if strategy:
        spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": strategy}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def owner_name(o: Obj) -> str:
    return str(o["metadata"]["ownerReferences"][0]["name"])


async def scale(store: Store, resource: str, name: str, replicas: int) -> None:
    obj = await store.get(resource, "default", name)
    obj["spec"]["replicas"] = replicas
    await store.update(resource, obj)


@aio
async def test_replicaset_creates_names_and_scales_down_preferring_unready() -> None:
    reg = await cluster()
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "rs", "namespace": "default"},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "rs"}},
                   "template": template({"app": "rs"})}}
    await reg.create("replicasets", rs)
    await settle(reg, [ReplicaSetController])
    pods = await items(reg, "pods")
    assert len(pods) == 3
    for p in pods:
        name = p["metadata"]["name"]
        assert name.startswith("rs-") and len(name) == 8 and name[3:].isalnum()
        ref = p["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["controller"]) == ("ReplicaSet", "rs", True)
    names = sorted(p["metadata"]["name"] for p in pods)
    for i, n in enumerate(names[:2]):
        await run_pod(reg, "default", n, f"10.244.1.{i + 2}")
    await scale(reg, "replicasets", "rs", 2)
    await settle(reg, [ReplicaSetController])
    left = active(await items(reg, "pods"))
    assert sorted(p["metadata"]["name"] for p in left) == names[:2]  # the unscheduled one went
    status = (await reg.get("replicasets", "default", "rs"))["status"]
    assert status["replicas"] == 2 and status["readyReplicas"] == 2
    # a deleted pod is replaced
    await reg.delete("pods", "default", names[0], grace_period_seconds=0)
    await settle(reg, [ReplicaSetController])
    assert len(active(await items(reg, "pods"))) == 2


@aio
async def test_deployment_scale_up_and_down() -> None:
    reg = await cluster()
    await reg.create("deployments", deployment("web", 2))
    await settle(reg, APPS, kubelet=True)
    rss = await items(reg, "replicasets")
    assert len(rss) == 1
    h = rss[0]["metadata"]["labels"][HASH_LABEL]
    assert rss[0]["metadata"]["name"] == f"web-{h}"
    assert rss[0]["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: h}
    pods = active(await items(reg, "pods"))
    assert len(pods) == 2 and all(p["metadata"]["labels"][HASH_LABEL] == h for p in pods)
    await scale(reg, "deployments", "web", 5)
    await settle(reg, APPS, kubelet=True)
    assert len(active(await items(reg, "pods"))) == 5
    await scale(reg, "deployments", "web", 1)
    await settle(reg, APPS, kubelet=True)
    assert len(active(await items(reg, "pods"))) == 1
    dep = await reg.get("deployments", "default", "web")
    st = dep["status"]
    assert (st["replicas"], st["readyReplicas"], st["updatedReplicas"],
            st["availableReplicas"]) == (1, 1, 1, 1)
    assert st["observedGeneration"] == dep["metadata"]["generation"]


@aio
async def test_deployment_rollout_respects_surge_and_unavailability() -> None:
    reg = await cluster()
    await reg.create("deployments", deployment("web", 4, maxSurge=1, maxUnavailable=0))
    await settle(reg, APPS, kubelet=True)
    old_rs = (await items(reg, "replicasets"))[0]
    dep = await reg.get("deployments", "default", "web")
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    await reg.update("deployments", dep)
    mgr = manager(reg, APPS)
    kubelet = OfflineKubelet(reg, informers=mgr.informers)
    for _ in range(40):
        writes = await mgr.converge(max_rounds=1, extra_steps=[kubelet.sync])
        pods = active(await items(reg, "pods"))
        ready = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
        assert len(pods) <= 5  # replicas + maxSurge
        assert len(ready) >= 4  # replicas - maxUnavailable
        if writes == 0:
            break
    rss = {r["metadata"]["name"]: r for r in await items(reg, "replicasets")}
    assert len(rss) == 2
    assert rss[old_rs["metadata"]["name"]]["spec"]["replicas"] == 0
    new = next(r for n, r in rss.items() if n != old_rs["metadata"]["name"])
    assert new["spec"]["replicas"] == 4
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    pods = active(await items(reg, "pods"))
    assert {owner_name(p) for p in pods} == {new["metadata"]["name"]}
    assert all(p["spec"]["containers"][0]["image"] == "img:2" for p in pods)


@aio
async def test_statefulset_ordered_ready_names_and_hostnames() -> None:
    reg = await cluster()
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": "db", "namespace": "default"},
           "spec": {"replicas": 3, "serviceName": "db",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": template({"app": "db"})}}
    await reg.create("statefulsets", sts)
    await settle(reg, [StatefulSetController])
    pods = await items(reg, "pods")
    assert [p["metadata"]["name"] for p in pods] == ["db-0"]  # db-1 waits for db-0
    await run_pod(reg, "default", "db-0", "10.244.1.2", ready=False)
    await settle(reg, [StatefulSetController])
    assert len(await items(reg, "pods")) == 1  # Running but not Ready: still waits
    await run_pod(reg, "default", "db-0", "10.244.1.2", ready=True)
    await settle(reg, [StatefulSetController, Scheduler], kubelet=True)
    pods = await items(reg, "pods")
    assert [p["metadata"]["name"] for p in pods] == ["db-0", "db-1", "db-2"]
    for i, p in enumerate(pods):
        assert p["spec"]["hostname"] == f"db-{i}" and p["spec"]["subdomain"] == "db"
        assert p["metadata"]["labels"][POD_NAME] == f"db-{i}"
        assert p["metadata"]["labels"][POD_INDEX] == str(i)
    # a deleted pod comes back under the same name; scale-down starts at the top
    await reg.delete("pods", "default", "db-1", grace_period_seconds=0)
    await settle(reg, [StatefulSetController, Scheduler], kubelet=True)
    assert [p["metadata"]["name"] for p in await items(reg, "pods")] == ["db-0", "db-1", "db-2"]
    await scale(reg, "statefulsets", "db", 1)
    await settle(reg, [StatefulSetController])
    terminating = [p["metadata"]["name"] for p in await items(reg, "pods")
                   if p["metadata"].get("deletionTimestamp")]
    assert terminating == ["db-2"]  # one at a time, highest ordinal first


@aio
async def test_statefulset_parallel_creates_all_at_once() -> None:
    reg = await cluster()
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": "par", "namespace": "default"},
           "spec": {"replicas": 3, "serviceName": "par", "podManagementPolicy": "Parallel",
                    "selector": {"matchLabels": {"app": "par"}},
                    "template": template({"app": "par"})}}
    await reg.create("statefulsets", sts)
    await settle(reg, [StatefulSetController])
    assert [p["metadata"]["name"] for p in await items(reg, "pods")] == ["par-0", "par-1", "par-2"]


@aio
async def test_daemonset_one_pod_per_matching_node() -> None:
    reg = await cluster()
    await reg.create("nodes", node("edge", "172.18.0.50", "10.244.50.0/24", role="edge"))
    ds: Obj = {"apiVersion": "apps/v1", "kind": "DaemonSet",
          "metadata": {"name": "agent", "namespace": "default"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": template({"app": "agent"})}}
    await reg.create("daemonsets", ds)
    await settle(reg, [DaemonSetController])
    pods = await items(reg, "pods")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["edge", "node-1", "node-2", "node-3"]
    assert all(p["metadata"]["name"].startswith("agent-") for p in pods)
    # a node leaves: its pod goes; a new node joins: it gets one
    await reg.delete("nodes", "", "node-3")
    await reg.create("nodes", node("node-4", "172.18.0.14", "10.244.4.0/24"))
    await settle(reg, [DaemonSetController])
    assert sorted(p["spec"]["nodeName"] for p in active(await items(reg, "pods"))) == [
        "edge", "node-1", "node-2", "node-4"]
    # a nodeSelector narrows it down to the edge node
    ds = await reg.get("daemonsets", "default", "agent")
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"role": "edge"}
    await reg.update("daemonsets", ds)
    await settle(reg, [DaemonSetController])
    assert [p["spec"]["nodeName"] for p in active(await items(reg, "pods"))] == ["edge"]


@aio
async def test_pods_of_a_deleted_replicaset_are_collected() -> None:
    reg = await cluster()
    await reg.create("deployments", deployment("gc", 2))
    await settle(reg, APPS)
    assert len(await items(reg, "pods")) == 2
    await reg.delete("deployments", "default", "gc")
    await settle(reg, APPS)
    assert await items(reg, "replicasets") == []
    assert active(await items(reg, "pods")) == []
    # ...unless garbage collection is off (offline: a dump may lack the owners)
    await reg.create("pods", {**pod("orphan", {"app": "x"}), "metadata": {
        "name": "orphan", "namespace": "default",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "nope",
                             "uid": "123", "controller": True}]}})
    await settle(reg, APPS, orphan_gc=False)
    assert [p["metadata"]["name"] for p in active(await items(reg, "pods"))] == ["orphan"]
