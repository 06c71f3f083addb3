"""The typed Client against a running server: same results and errors as the Registry."""

from __future__ import annotations

import asyncio

import pytest
from apiserver_harness import TOKEN, aio, configmap, namespace, pod, running, service

from podnet.api.selectors import parse
from podnet.apiserver.client import Client
from podnet.apiserver.errors import Forbidden, Invalid, Unauthorized
from podnet.controllers.informer import Informer
from podnet.store.base import AlreadyExists, Conflict, Gone, NotFound, WatchEvent
from podnet.store.memory import MemoryStore


@aio
async def test_crud_and_errors_map_back_to_exceptions() -> None:
    async with running() as r:
        c = r.client
        created = await c.create("configmaps", configmap("a", labels={"app": "x"}))
        assert await c.get("configmaps", "default", "a") == created
        with pytest.raises(AlreadyExists):
            await c.create("configmaps", configmap("a"))
        with pytest.raises(NotFound):
            await c.get("configmaps", "default", "zzz")
        updated = await c.update("configmaps", {**created, "data": {"k": "2"}})
        with pytest.raises(Conflict):
            await c.update("configmaps", {**created, "data": {"k": "3"}})
        items, rv = await c.list("configmaps", selector=parse("app=x"))
        assert items == [updated] and int(rv) >= int(updated["metadata"]["resourceVersion"])
        assert (await c.list("configmaps", "kube-system"))[0] == []
        with pytest.raises(Invalid) as err:
            await c.create("services", service("web", type="NodePort",
                                               ports=[{"port": 80, "nodePort": 80}]))
        assert err.value.causes[0].field == "spec.ports[0].nodePort"
        assert err.value.name == "web" and err.value.code == 422
        with pytest.raises(Forbidden):
            await c.delete("namespaces", "", "kube-system")
        deleted = await c.delete("configmaps", "default", "a")
        assert deleted["metadata"]["name"] == "a"
        with pytest.raises(NotFound):
            await c.delete("configmaps", "default", "a")


@aio
async def test_status_patch_apply_and_dry_run() -> None:
    async with running() as r:
        c = r.client
        p = await c.create("pods", pod("p", node="node-1"))
        st = await c.update_status("pods", {**p, "status": {"phase": "Running"}})
        assert st["status"]["phase"] == "Running"
        patched = await c.patch("pods", "default", "p", {"metadata": {"labels": {"app": None}}})
        assert "app" not in (patched["metadata"].get("labels") or {})
        ready = await c.patch("pods", "default", "p", {"status": {"podIP": "10.244.1.2"}},
                              status=True)
        assert ready["status"] == {"phase": "Running", "podIP": "10.244.1.2"}
        svc = await c.apply(service("web", type="NodePort"))
        again = await c.apply(service("web", type="NodePort"))
        assert again["metadata"]["resourceVersion"] == svc["metadata"]["resourceVersion"]
        dry = await c.create("configmaps", configmap("d"), dry_run=True)
        assert dry["metadata"]["name"] == "d"
        with pytest.raises(NotFound):
            await c.get("configmaps", "default", "d")
        marked = await c.delete("pods", "default", "p", grace_period_seconds=10)
        assert marked["metadata"]["deletionGracePeriodSeconds"] == 10
        await c.delete("pods", "default", "p", grace_period_seconds=0)
        with pytest.raises(NotFound):
            await c.get("pods", "default", "p")


@aio
async def test_watch_events_and_gone() -> None:
    async with running(store=MemoryStore(history=4)) as r:
        c = r.client
        _, rv = await c.list("configmaps")
        seen: list[WatchEvent] = []

        async def follow() -> None:
            async for ev in c.watch("configmaps", "default", rv, parse("keep")):
                seen.append(ev)
                if len(seen) == 2:
                    return

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.05)
        await c.create("configmaps", configmap("skip"))
        await c.create("configmaps", configmap("a", labels={"keep": "1"}))
        await c.delete("configmaps", "default", "a")
        await asyncio.wait_for(task, 5)
        assert [(e.type, e.object["metadata"]["name"]) for e in seen] == [
            ("ADDED", "a"), ("DELETED", "a")]
        for i in range(6):
            await c.create("configmaps", configmap(f"f{i}"))
        with pytest.raises(Gone):
            async for _ in c.watch("configmaps", None, rv):
                pass


@aio
async def test_informer_over_the_client_lists_and_follows() -> None:
    async with running() as r:
        await r.client.create("namespaces", namespace("team"))
        await r.client.create("configmaps", configmap("one", "team"))
        inf = Informer(r.client, "configmaps", "team")
        task = asyncio.create_task(inf.run())
        try:
            await asyncio.wait_for(inf.wait_synced(), 5)
            assert set(inf.cache) == {("team", "one")}
            await r.client.create("configmaps", configmap("two", "team"))
            await r.client.delete("configmaps", "team", "one")
            for _ in range(200):
                if set(inf.cache) == {("team", "two")}:
                    break
                await asyncio.sleep(0.01)
            assert set(inf.cache) == {("team", "two")}
        finally:
            task.cancel()


@aio
async def test_tcp_client_needs_the_token() -> None:
    async with running(tcp=True) as r:
        url = f"http://127.0.0.1:{r.server.tcp_port}"
        async with Client(url=url, token=TOKEN) as good:
            names = [n["metadata"]["name"] for n in (await good.list("namespaces"))[0]]
            assert names == ["default", "kube-system"]
        async with Client(url=url, token="nope") as bad:
            with pytest.raises(Unauthorized):
                await bad.list("namespaces")


@aio
async def test_informer_resumes_after_a_server_restart() -> None:
    async with running() as r:
        inf = Informer(r.client, "configmaps", "default")
        task = asyncio.create_task(inf.run())
        try:
            await asyncio.wait_for(inf.wait_synced(), 5)
            await r.server.stop()
            await r.registry.create("configmaps", configmap("while-down"))
            await r.server.start()
            await r.client.create("configmaps", configmap("after"))
            for _ in range(500):
                if set(inf.cache) == {("default", "while-down"), ("default", "after")}:
                    break
                await asyncio.sleep(0.01)
            assert set(inf.cache) == {("default", "while-down"), ("default", "after")}
            assert inf.lists == 1  # resumed from its resourceVersion, no relist
        finally:
            task.cancel()
