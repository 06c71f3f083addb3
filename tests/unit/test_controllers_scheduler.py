"""The scheduler: nodeSelector, Ready/schedulable nodes, least-loaded, Unschedulable."""

from __future__ import annotations

from controller_world import aio, cluster, items, node, pod, settle

from podnet.api.kinds import Obj
from podnet.controllers.scheduler import Scheduler


def placement(pods: list[Obj]) -> dict[str, str]:
    return {p["metadata"]["name"]: p["spec"].get("nodeName", "") for p in pods}


@aio
async def test_least_loaded_with_ties_by_name() -> None:
    reg = await cluster()
    await reg.create("pods", pod("pinned", {"a": "b"}, nodeName="node-1"))
    for i in range(5):
        await reg.create("pods", pod(f"p{i}", {"a": "b"}))
    await settle(reg, [Scheduler])
    where = placement(await items(reg, "pods"))
    # node-1 already has one: p0 -> node-2, p1 -> node-3, p2 -> node-1 (all at 1, by name)...
    assert [where[f"p{i}"] for i in range(5)] == ["node-2", "node-3", "node-1", "node-2",
                                                  "node-3"]


@aio
async def test_node_selector_and_not_ready_or_cordoned_nodes() -> None:
    reg = await cluster(nodes=1)
    await reg.create("nodes", node("gpu", "172.18.0.40", "10.244.40.0/24", hw="gpu"))
    await reg.create("nodes", node("down", "172.18.0.41", "10.244.41.0/24", ready=False,
                                   hw="gpu"))
    cordoned = node("cordoned", "172.18.0.42", "10.244.42.0/24", hw="gpu")
    cordoned["spec"]["unschedulable"] = True
    await reg.create("nodes", cordoned)
    for i in range(3):
        await reg.create("pods", pod(f"g{i}", {"a": "b"}, nodeSelector={"hw": "gpu"}))
    await settle(reg, [Scheduler])
    assert set(placement(await items(reg, "pods")).values()) == {"gpu"}


@aio
async def test_unschedulable_pod_gets_condition_with_message() -> None:
    reg = await cluster()
    await reg.create("pods", pod("lost", {"a": "b"}, nodeSelector={"disk": "ssd"}))
    mgr = await settle(reg, [Scheduler])
    p = await reg.get("pods", "default", "lost")
    assert "nodeName" not in p["spec"]
    cond = next(c for c in p["status"]["conditions"] if c["type"] == "PodScheduled")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"] == ("0/3 nodes are available: "
                               "3 node(s) didn't match Pod's node affinity/selector.")
    assert p["status"]["phase"] == "Pending"
    # nothing changed: the condition is not rewritten
    assert mgr.controllers[0].writes == 1
    again = await settle(reg, [Scheduler])
    assert again.controllers[0].writes == 0
    # a matching node appears: the pod is bound and PodScheduled turns True
    await reg.create("nodes", node("fast", "172.18.0.30", "10.244.30.0/24", disk="ssd"))
    await settle(reg, [Scheduler])
    p = await reg.get("pods", "default", "lost")
    assert p["spec"]["nodeName"] == "fast"
    cond = next(c for c in p["status"]["conditions"] if c["type"] == "PodScheduled")
    assert cond["status"] == "True"


@aio
async def test_taints_need_tolerations_and_capacity_is_honoured() -> None:
    reg = await cluster(nodes=0)
    tainted = node("cp", "172.18.0.20", "10.244.20.0/24")
    tainted["spec"]["taints"] = [{"key": "node-role.kubernetes.io/control-plane",
                                  "effect": "NoSchedule"}]
    await reg.create("nodes", tainted)
    small = node("small", "172.18.0.21", "10.244.21.0/24")
    small["status"]["allocatable"] = {"pods": "1"}
    await reg.create("nodes", small)
    await reg.create("pods", pod("a", {"x": "y"}))
    await reg.create("pods", pod("b", {"x": "y"}))
    await reg.create("pods", pod("tol", {"x": "y"}, tolerations=[
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
         "effect": "NoSchedule"}]))
    await settle(reg, [Scheduler])
    where = placement(await items(reg, "pods"))
    assert where["a"] == "small" and where["b"] == "" and where["tol"] == "cp"
    b = await reg.get("pods", "default", "b")
    msg = b["status"]["conditions"][0]["message"]
    assert msg == ("0/2 nodes are available: 1 Too many pods, 1 node(s) had untolerated taint "
                   "{node-role.kubernetes.io/control-plane}.")
