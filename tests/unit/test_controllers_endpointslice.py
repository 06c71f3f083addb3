"""EndpointSlice controller: per-pod port resolution, conditions, limits, minimal updates."""

from __future__ import annotations

from typing import Any

from controller_world import aio, cluster, container, items, pod, run_pod, service, settle

from podnet.api.kinds import Obj
from podnet.controllers.endpointslice import (
    CONTROLLER_NAME,
    MANAGED_BY,
    SERVICE_NAME,
    EndpointSliceController,
)
from podnet.store.base import Store

ES = [EndpointSliceController]


async def slices(store: Store, svc: str, ns: str = "default") -> list[Obj]:
    return [s for s in await items(store, "endpointslices", ns)
            if s["metadata"].get("labels", {}).get(SERVICE_NAME) == svc]


def endpoints(sl: list[Obj]) -> dict[str, dict[str, Any]]:
    return {e["targetRef"]["name"]: e for s in sl for e in s.get("endpoints") or []}


@aio
async def test_named_target_port_is_resolved_per_pod() -> None:
    reg = await cluster()
    await reg.create("pods", pod("a", {"app": "web"}, containers=[container(http=8080)]))
    await reg.create("pods", pod("b", {"app": "web"}, containers=[container(http=9090)]))
    await reg.create("pods", pod("c", {"app": "web"}, containers=[container(other=7070)]))
    for i, name in enumerate("abc"):
        await run_pod(reg, "default", name, f"10.244.1.{10 + i}")
    await reg.create("services", service("web", {"app": "web"}, [
        {"name": "http", "port": 80, "targetPort": "http"},
        {"name": "fixed", "port": 81, "targetPort": 5000}]))
    await settle(reg, ES)
    sl = await slices(reg, "web")
    by_ports = {tuple(sorted((p["name"], p["port"]) for p in s["ports"])):
                sorted(e["targetRef"]["name"] for e in s["endpoints"]) for s in sl}
    assert by_ports == {
        (("fixed", 5000), ("http", 8080)): ["a"],
        (("fixed", 5000), ("http", 9090)): ["b"],
        (("fixed", 5000),): ["c"],  # c has no port named http: left out of that port
    }
    for s in sl:
        m = s["metadata"]
        assert m["name"].startswith("web-") and len(m["name"]) == len("web-") + 5
        assert m["labels"][MANAGED_BY] == CONTROLLER_NAME
        assert m["ownerReferences"][0]["kind"] == "Service"
        assert m["ownerReferences"][0]["controller"] is True
        assert s["addressType"] == "IPv4"


@aio
async def test_conditions_ready_serving_terminating_and_hostname() -> None:
    reg = await cluster()
    await reg.create("pods", pod("ok", {"app": "db"}, hostname="ok", subdomain="db"))
    await reg.create("pods", pod("slow", {"app": "db"}))
    await reg.create("pods", pod("going", {"app": "db"}, hostname="going", subdomain="other"))
    await reg.create("pods", pod("noip", {"app": "db"}))
    await run_pod(reg, "default", "ok", "10.244.1.2", "node-1")
    await run_pod(reg, "default", "slow", "10.244.1.3", "node-2", ready=False)
    await run_pod(reg, "default", "going", "10.244.1.4")
    await reg.delete("pods", "default", "going")  # bound: terminates gracefully
    await reg.create("services", service("db", {"app": "db"}, [{"port": 5432}]))
    await settle(reg, ES)
    eps = endpoints(await slices(reg, "db"))
    assert set(eps) == {"ok", "slow", "going"}  # no IP, no endpoint
    assert eps["ok"]["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert eps["slow"]["conditions"] == {"ready": False, "serving": False, "terminating": False}
    assert eps["going"]["conditions"] == {"ready": False, "serving": True, "terminating": True}
    assert eps["ok"]["hostname"] == "ok" and "hostname" not in eps["going"]
    assert eps["ok"]["nodeName"] == "node-1" and eps["slow"]["nodeName"] == "node-2"
    assert "zone" not in eps["ok"]
    assert eps["ok"]["targetRef"]["kind"] == "Pod"


@aio
async def test_publish_not_ready_addresses_marks_all_ready() -> None:
    reg = await cluster()
    await reg.create("pods", pod("p", {"app": "x"}))
    await run_pod(reg, "default", "p", "10.244.1.2", ready=False)
    await reg.create("services", service("x", {"app": "x"}, [{"port": 80}],
                                         publishNotReadyAddresses=True, clusterIP="None"))
    await settle(reg, ES)
    sl = await slices(reg, "x")
    assert endpoints(sl)["p"]["conditions"]["ready"] is True
    assert sl[0]["metadata"]["labels"]["service.kubernetes.io/headless"] == ""


@aio
async def test_more_than_100_endpoints_are_split_and_updates_are_minimal() -> None:
    reg = await cluster()
    for i in range(230):
        await reg.create("pods", pod(f"p{i:03d}", {"app": "big"}))
        await run_pod(reg, "default", f"p{i:03d}", f"10.244.{1 + i // 200}.{2 + i % 200}")
    await reg.create("services", service("big", {"app": "big"}, [{"port": 80}]))
    await settle(reg, ES)
    sl = await slices(reg, "big")
    assert sorted(len(s["endpoints"]) for s in sl) == [30, 100, 100]
    assert len(endpoints(sl)) == 230
    versions = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in sl}
    # one pod becomes unready: exactly one slice is rewritten
    await run_pod(reg, "default", "p005", "10.244.1.7", ready=False)
    await settle(reg, ES)
    after = {s["metadata"]["name"]: s["metadata"]["resourceVersion"]
             for s in await slices(reg, "big")}
    assert after.keys() == versions.keys()
    assert sum(after[k] != versions[k] for k in after) == 1
    # nothing changes: nothing is written
    mgr = await settle(reg, ES)
    assert mgr.controllers[0].writes == 0


@aio
async def test_placeholder_then_service_deleted_or_selector_removed() -> None:
    reg = await cluster()
    await reg.create("services", service("empty", {"app": "none"}, [{"port": 80}]))
    await settle(reg, ES)
    sl = await slices(reg, "empty")
    assert len(sl) == 1 and sl[0]["endpoints"] == []  # Kubernetes' placeholder slice
    svc = await reg.get("services", "default", "empty")
    del svc["spec"]["selector"]
    await reg.update("services", svc)
    await settle(reg, ES)
    assert await slices(reg, "empty") == []
    await reg.create("pods", pod("p", {"app": "gone"}))
    await run_pod(reg, "default", "p", "10.244.1.2")
    await reg.create("services", service("gone", {"app": "gone"}, [{"port": 80}]))
    await settle(reg, ES)
    assert len(await slices(reg, "gone")) == 1
    await reg.delete("services", "default", "gone")
    await settle(reg, ES)
    assert await slices(reg, "gone") == []


@aio
async def test_selectorless_service_keeps_user_slices() -> None:
    reg = await cluster()
    await reg.create("services", service("ext", None, [{"port": 80}]))
    user = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "ext-1", "namespace": "default",
                         "labels": {SERVICE_NAME: "ext", MANAGED_BY: "me"}},
            "addressType": "IPv4", "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["192.0.2.1"]}]}
    await reg.create("endpointslices", user)
    mgr = await settle(reg, ES)
    assert mgr.controllers[0].writes == 0
    sl = await slices(reg, "ext")
    assert [s["metadata"]["name"] for s in sl] == ["ext-1"]
    assert sl[0]["endpoints"] == [{"addresses": ["192.0.2.1"]}]


@aio
async def test_pods_of_other_namespaces_and_finished_pods_are_left_out() -> None:
    reg = await cluster(namespaces=("default", "other"))
    await reg.create("pods", pod("here", {"app": "a"}))
    await reg.create("pods", pod("there", {"app": "a"}, ns="other"))
    await reg.create("pods", pod("done", {"app": "a"}))
    await run_pod(reg, "default", "here", "10.244.1.2")
    await run_pod(reg, "other", "there", "10.244.1.3")
    done = await run_pod(reg, "default", "done", "10.244.1.4")
    done["status"]["phase"] = "Succeeded"
    await reg.update_status("pods", done)
    await reg.create("services", service("a", {"app": "a"}, [{"port": 80}]))
    await settle(reg, ES)
    assert set(endpoints(await slices(reg, "a"))) == {"here"}
