"""The controller manager live: controllers over the HTTP client of a real API server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from apiserver_harness import running
from controller_world import CFG, aio, node, service, template

from podnet.controllers.manager import ControllerManager, converge
from podnet.offline_kubelet import OfflineKubelet
from podnet.store.memory import MemoryStore


async def eventually(check: Callable[[], Awaitable[bool]], step: Callable[[], Awaitable[object]]
                     ) -> None:
    for _ in range(300):
        await step()
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the cluster did not get there")


@aio
async def test_manager_converges_a_deployment_behind_a_service_over_http() -> None:
    async with running() as api:
        client = api.client
        for nc in CFG.nodes:
            await client.create("nodes", node(nc.name, nc.ip, nc.pod_cidr))
        await client.create("deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": template({"app": "web"})}})
        await client.create("services", service("web", {"app": "web"},
                                                 [{"name": "http", "port": 80,
                                                   "targetPort": "http"}]))
        mgr = ControllerManager(client, CFG)
        agent = OfflineKubelet(client)  # stands in for the node agents
        await mgr.start()
        try:
            async def ready_endpoints(n: int) -> bool:
                slices, _ = await client.list("endpointslices", "default")
                eps = [e for s in slices if s["metadata"]["labels"].get(
                    "kubernetes.io/service-name") == "web" for e in s["endpoints"]]
                return (len(eps) == n and all(e["conditions"]["ready"] for e in eps)
                        and all(s["ports"][0]["port"] == 8080 for s in slices))

            await eventually(lambda: ready_endpoints(2), agent.sync)
            dep = await client.get("deployments", "default", "web")
            dep["spec"]["replicas"] = 3
            await client.update("deployments", dep)
            await eventually(lambda: ready_endpoints(3), agent.sync)

            async def defaults_made() -> bool:
                names = {n["metadata"]["name"] for n in (await client.list("namespaces"))[0]}
                return {"kube-public", "kube-node-lease"} <= names

            await eventually(defaults_made, lambda: asyncio.sleep(0))
            kube = await client.get("services", "default", "kubernetes")
            assert kube["spec"]["clusterIP"] == "10.96.0.1"
        finally:
            await mgr.stop()


def test_converge_returns_zero_when_nothing_is_left_to_do() -> None:
    async def main() -> tuple[int, int]:
        store = MemoryStore()
        first = await converge(store, CFG)
        second = await converge(store, CFG)
        return first, second

    first, second = asyncio.run(main())
    assert first > 0 and second == 0
