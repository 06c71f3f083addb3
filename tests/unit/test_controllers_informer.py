"""Informer: list+watch cache, resume after a dropped stream, relist on Gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from controller_world import aio

from podnet.api.kinds import Obj
from podnet.api.selectors import Selector
from podnet.controllers.informer import Informer
from podnet.store.base import WatchEvent
from podnet.store.memory import MemoryStore


class DroppingStore:
    """A MemoryStore whose watch streams end after ``cut_after`` events (a dropped
    connection) and whose new watches wait for ``reconnect`` to be set."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.cut_after: int | None = None
        self.reconnect = asyncio.Event()
        self.reconnect.set()
        self.watch_versions: list[str | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def watch(self, resource: str, namespace: str | None = None,
                    resource_version: str | None = None,
                    selector: Selector | None = None) -> AsyncIterator[WatchEvent]:
        await self.reconnect.wait()
        self.watch_versions.append(resource_version)
        n = 0
        async for ev in self.inner.watch(resource, namespace, resource_version, selector):
            yield ev
            n += 1
            if self.cut_after is not None and n >= self.cut_after:
                return


def cm(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}}


async def eventually(cond: Callable[[], bool]) -> None:
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@aio
async def test_cache_follows_the_store_and_handlers_see_events() -> None:
    store = MemoryStore()
    await store.create("configmaps", cm("a"))
    inf = Informer(store, "configmaps")
    seen: list[tuple[str, str]] = []
    inf.add_handler(lambda ev: seen.append((ev.type, ev.object["metadata"]["name"])))
    task = asyncio.create_task(inf.run())
    await inf.wait_synced()
    assert set(inf.cache) == {("default", "a")}
    b = await store.create("configmaps", cm("b"))
    b["data"] = {"k": "v"}
    await store.update("configmaps", b)
    await store.delete("configmaps", "default", "a")
    await eventually(lambda: set(inf.cache) == {("default", "b")}
                     and inf.cache[("default", "b")].get("data") == {"k": "v"})
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "a")]
    task.cancel()


@aio
async def test_resumes_from_last_version_after_a_dropped_stream() -> None:
    store = DroppingStore(MemoryStore())
    inf = Informer(store, "configmaps")  # type: ignore[arg-type]
    task = asyncio.create_task(inf.run())
    await inf.wait_synced()
    store.cut_after = 2
    store.reconnect.clear()  # after the drop, stay disconnected for a while
    await store.inner.create("configmaps", cm("a"))
    second = await store.inner.create("configmaps", cm("b"))
    await eventually(lambda: len(inf.cache) == 2)
    await store.inner.create("configmaps", cm("c"))  # happens while disconnected
    store.cut_after = None
    store.reconnect.set()
    await eventually(lambda: len(inf.cache) == 3)
    assert inf.lists == 1  # resumed, not relisted
    assert store.watch_versions[-1] == second["metadata"]["resourceVersion"]
    task.cancel()


@aio
async def test_relists_when_the_version_is_gone() -> None:
    store = DroppingStore(MemoryStore(history=5))
    inf = Informer(store, "configmaps")  # type: ignore[arg-type]
    added: list[str] = []
    inf.add_handler(lambda ev: added.append(ev.object["metadata"]["name"])
                    if ev.type == "ADDED" else None)
    await store.inner.create("configmaps", cm("old"))
    task = asyncio.create_task(inf.run())
    await inf.wait_synced()
    store.cut_after = 1
    store.reconnect.clear()
    await store.inner.delete("configmaps", "default", "old")
    await eventually(lambda: not inf.cache)
    for i in range(20):  # more changes than the store keeps
        await store.inner.create("configmaps", cm(f"n{i:02d}"))
    store.cut_after = None
    store.reconnect.set()
    await eventually(lambda: len(inf.cache) == 20)
    assert inf.lists == 2
    assert added == ["old"] + [f"n{i:02d}" for i in range(20)]
    task.cancel()


def test_old_events_do_not_undo_newer_writes() -> None:
    inf = Informer(MemoryStore(), "configmaps")

    def obj(rv: int, **data: str) -> Obj:
        return {**cm("x"), "data": data, "metadata": {**cm("x")["metadata"],
                                                      "resourceVersion": str(rv)}}

    inf.observe(obj(5, v="5"))
    inf.apply_event(WatchEvent("MODIFIED", obj(4, v="4")))  # late event: ignored
    assert inf.cache[("default", "x")]["data"] == {"v": "5"}
    inf.forget(obj(6))
    inf.apply_event(WatchEvent("MODIFIED", obj(5, v="5")))  # in flight before the delete
    assert ("default", "x") not in inf.cache
    inf.apply_event(WatchEvent("ADDED", obj(9, v="9")))  # re-created later: accepted
    assert inf.cache[("default", "x")]["data"] == {"v": "9"}
