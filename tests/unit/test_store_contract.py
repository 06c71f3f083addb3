"""The Store contract (see podnet/store/base.py), run against memory, SQLite and etcd.

Each test is a plain function that runs an async body on a fresh store through
the ``store_backend`` fixture (conftest.py); the etcd variant needs
/usr/bin/etcd and is skipped without it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from podnet.api.kinds import Obj
from podnet.api.selectors import parse
from podnet.store.base import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Gone,
    NotFound,
    Store,
    StoreError,
    WatchEvent,
)
from podnet.store.etcd import EtcdStore
from podnet.store.memory import MemoryStore
from podnet.store.open import open_store
from podnet.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from conftest import Backend


def cm(name: str, ns: str = "default", labels: dict[str, str] | None = None, **data: str) -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": dict(data)}


def rv(obj: Obj) -> int:
    return int(obj["metadata"]["resourceVersion"])


def names(items: list[Obj]) -> list[str]:
    return [f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in items]


def summary(events: list[WatchEvent]) -> list[tuple[str, str, int]]:
    return [(e.type, e.object["metadata"]["name"], rv(e.object)) for e in events]


async def take(stream: AsyncIterator[WatchEvent], n: int, timeout: float = 10) -> list[WatchEvent]:
    return [await asyncio.wait_for(anext(stream), timeout) for _ in range(n)]


async def until(stream: AsyncIterator[WatchEvent], name: str) -> list[WatchEvent]:
    """Events up to and including the first one about ``name``."""
    out: list[WatchEvent] = []
    while not out or out[-1].object["metadata"]["name"] != name:
        out.append(await asyncio.wait_for(anext(stream), 10))
    return out


# ---- create / get / list ----


def test_create_get_roundtrip(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        obj = cm("a", extra="1")
        obj["spec"] = {"unknown": [1, {"nested": None}], "x": True}
        obj["somethingElse"] = {"kept": "yes"}
        created = await s.create("configmaps", obj)
        m = created["metadata"]
        assert m["uid"] and m["creationTimestamp"].endswith("Z")
        assert m["generation"] == 1 and rv(created) > 0
        got = await s.get("configmaps", "default", "a")
        assert got == created
        assert got["spec"] == obj["spec"] and got["somethingElse"] == {"kept": "yes"}
        assert "resourceVersion" not in obj["metadata"]  # the caller's dict is untouched

    store_backend.run(body)


def test_create_existing_raises_already_exists(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        await s.create("configmaps", cm("a"))
        await s.create("configmaps", cm("a", ns="other"))  # same name, other namespace: fine
        await s.create("secrets", cm("a"))  # same name, other resource: fine
        with pytest.raises(AlreadyExists) as err:
            await s.create("configmaps", cm("a"))
        assert err.value.code == 409

    store_backend.run(body)


def test_list_namespace_selector_and_order(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        for ns, name, app in [("b", "z", "web"), ("a", "y", "db"), ("b", "x", "db"), ("a", "w", "web")]:
            await s.create("configmaps", cm(name, ns, {"app": app}))
        await s.create("secrets", cm("hidden", "a"))
        items, list_rv = await s.list("configmaps")
        assert names(items) == ["a/w", "a/y", "b/x", "b/z"]
        assert int(list_rv) >= max(rv(o) for o in items)
        items, _ = await s.list("configmaps", namespace="b")
        assert names(items) == ["b/x", "b/z"]
        items, _ = await s.list("configmaps", selector=parse("app=web"))
        assert names(items) == ["a/w", "b/z"]
        items, _ = await s.list("configmaps", namespace="a", selector=parse("app in (db)"))
        assert names(items) == ["a/y"]
        items, _ = await s.list("configmaps", namespace="nowhere")
        assert items == []

    store_backend.run(body)


def test_cluster_scoped(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
        await s.create("namespaces", ns)
        await s.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}})
        assert (await s.get("namespaces", "", "team-a"))["metadata"]["name"] == "team-a"
        items, _ = await s.list("namespaces")
        assert names(items) == ["/b", "/team-a"]
        items, _ = await s.list("namespaces", namespace="")
        assert names(items) == ["/b", "/team-a"]
        deleted = await s.delete("namespaces", "", "b")
        assert deleted["metadata"]["name"] == "b"
        with pytest.raises(NotFound):
            await s.get("namespaces", "", "b")

    store_backend.run(body)


def test_not_found(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        with pytest.raises(NotFound) as err:
            await s.get("configmaps", "default", "missing")
        assert err.value.code == 404
        with pytest.raises(NotFound):
            await s.update("configmaps", cm("missing"))
        with pytest.raises(NotFound):
            await s.update_status("configmaps", cm("missing"))
        with pytest.raises(NotFound):
            await s.delete("configmaps", "default", "missing")
        with pytest.raises(NotFound):
            await s.delete("configmaps", "default", "missing", resource_version="5")

    store_backend.run(body)


# ---- update / update_status / delete ----


def test_update_conflict_and_last_write_wins(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        v1 = await s.create("configmaps", cm("a", k="1"))
        v2 = await s.update("configmaps", {**v1, "data": {"k": "2"}})
        assert rv(v2) > rv(v1)
        assert v2["metadata"]["uid"] == v1["metadata"]["uid"]
        assert v2["metadata"]["creationTimestamp"] == v1["metadata"]["creationTimestamp"]
        with pytest.raises(Conflict) as err:
            await s.update("configmaps", {**v1, "data": {"k": "stale"}})
        assert err.value.code == 409
        assert (await s.get("configmaps", "default", "a"))["data"] == {"k": "2"}
        unversioned = cm("a", k="3")  # no resourceVersion, uid or timestamp: last write wins
        v3 = await s.update("configmaps", unversioned)
        assert v3["data"] == {"k": "3"} and rv(v3) > rv(v2)
        assert v3["metadata"]["uid"] == v1["metadata"]["uid"]
        assert await s.get("configmaps", "default", "a") == v3

    store_backend.run(body)


def test_generation_bumps_only_on_spec_change(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        obj = cm("a")
        obj["spec"] = {"replicas": 1}
        v1 = await s.create("configmaps", obj)
        relabeled = copy.deepcopy(v1)
        relabeled["metadata"]["labels"] = {"x": "y"}
        relabeled["status"] = {"ready": True}
        v2 = await s.update("configmaps", relabeled)
        assert v2["metadata"]["generation"] == 1
        respec = copy.deepcopy(v2)
        respec["spec"]["replicas"] = 3
        v3 = await s.update("configmaps", respec)
        assert v3["metadata"]["generation"] == 2
        v4 = await s.update_status("configmaps", {**v3, "status": {"ready": False}})
        assert v4["metadata"]["generation"] == 2

    store_backend.run(body)


def test_update_status_only_touches_status(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        obj = cm("a", k="1")
        obj["spec"] = {"replicas": 1}
        v1 = await s.create("configmaps", obj)
        attempt = copy.deepcopy(v1)
        attempt["spec"]["replicas"] = 99
        attempt["data"] = {"k": "changed"}
        attempt["metadata"]["labels"] = {"sneaky": "yes"}
        attempt["status"] = {"phase": "Running"}
        v2 = await s.update_status("configmaps", attempt)
        assert v2["status"] == {"phase": "Running"}
        assert v2["spec"] == {"replicas": 1} and v2["data"] == {"k": "1"}
        assert "labels" not in v2["metadata"] and rv(v2) > rv(v1)
        assert await s.get("configmaps", "default", "a") == v2
        with pytest.raises(Conflict):
            await s.update_status("configmaps", {**v1, "status": {"phase": "Stale"}})

    store_backend.run(body)


def test_delete_returns_last_state_and_checks_version(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        v1 = await s.create("configmaps", cm("a", labels={"app": "web"}, k="1"))
        v2 = await s.update("configmaps", {**v1, "data": {"k": "2"}})
        with pytest.raises(Conflict):
            await s.delete("configmaps", "default", "a", resource_version=str(rv(v1)))
        _, before = await s.list("configmaps")
        stream = s.watch("configmaps", resource_version=before)
        gone = await s.delete("configmaps", "default", "a", resource_version=str(rv(v2)))
        assert gone["data"] == {"k": "2"} and gone["metadata"]["labels"] == {"app": "web"}
        assert gone["metadata"]["uid"] == v1["metadata"]["uid"] and rv(gone) > rv(v2)
        [event] = await take(stream, 1)
        assert event.type == "DELETED" and event.object == gone
        await stream.aclose()  # type: ignore[attr-defined]
        with pytest.raises(NotFound):
            await s.get("configmaps", "default", "a")
        await s.create("configmaps", cm("b"))
        assert (await s.delete("configmaps", "default", "b"))["metadata"]["name"] == "b"

    store_backend.run(body)


def test_resource_versions_increase_across_resources(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        seen = [
            rv(await s.create("pods", cm("p1"))),
            rv(await s.create("services", cm("s1"))),
            rv(await s.create("pods", cm("p2"))),
            rv(await s.update("services", cm("s1", k="v"))),
            rv(await s.delete("pods", "default", "p1")),
        ]
        assert seen == sorted(seen) and len(set(seen)) == len(seen)
        _, pods_rv = await s.list("pods")
        _, svc_rv = await s.list("services")
        assert int(pods_rv) >= seen[-1] and int(svc_rv) >= seen[-1]

    store_backend.run(body)


# ---- watch ----


async def _script(s: Store) -> list[tuple[str, str, int]]:
    """A fixed mix of writes on configmaps (and noise on secrets); what a watch must show."""
    a = await s.create("configmaps", cm("a", k="1"))
    await s.create("secrets", cm("noise"))
    b = await s.create("configmaps", cm("b", "other"))
    a2 = await s.update("configmaps", {**a, "data": {"k": "2"}})
    a3 = await s.update_status("configmaps", {**a2, "status": {"ok": True}})
    bd = await s.delete("configmaps", "other", "b")
    c = await s.create("configmaps", cm("c"))
    return [
        ("ADDED", "a", rv(a)),
        ("ADDED", "b", rv(b)),
        ("MODIFIED", "a", rv(a2)),
        ("MODIFIED", "a", rv(a3)),
        ("DELETED", "b", rv(bd)),
        ("ADDED", "c", rv(c)),
    ]


def test_watch_replays_later_events_in_order(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        await s.create("configmaps", cm("before"))
        _, start = await s.list("configmaps")
        expected = await _script(s)
        stream = s.watch("configmaps", resource_version=start)
        events = await take(stream, len(expected))
        assert summary(events) == expected
        assert events[3].object["status"] == {"ok": True}
        # nothing else is pending: the next event is the next write
        await s.create("configmaps", cm("d"))
        assert summary(await take(stream, 1))[0][:2] == ("ADDED", "d")
        await stream.aclose()  # type: ignore[attr-defined]
        # watching from the middle skips what came before
        stream = s.watch("configmaps", resource_version=str(expected[2][2]))
        assert summary(await take(stream, 3)) == expected[3:]
        await stream.aclose()  # type: ignore[attr-defined]

    store_backend.run(body)


@pytest.mark.parametrize("start", [None, "0"])
def test_watch_without_version_starts_now(store_backend: Backend, start: str | None) -> None:
    async def body(s: Store) -> None:
        await s.create("configmaps", cm("old"))
        stream = s.watch("configmaps", resource_version=start)
        first = asyncio.ensure_future(anext(stream))
        created: list[Obj] = []
        while not first.done():  # keep writing until the watch is established and sees one
            created.append(await s.create("configmaps", cm(f"new{len(created)}")))
            await asyncio.wait([first], timeout=0.05)
        event = first.result()
        assert event.type == "ADDED" and event.object["metadata"]["name"].startswith("new")
        later = [o for o in created if rv(o) > rv(event.object)]
        assert summary(await take(stream, len(later))) == [
            ("ADDED", o["metadata"]["name"], rv(o)) for o in later
        ]
        await stream.aclose()  # type: ignore[attr-defined]

    store_backend.run(body)


def test_watch_filters_namespace_and_selector(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        _, start = await s.list("configmaps")
        await s.create("configmaps", cm("a1", "a", {"app": "web"}))
        await s.create("configmaps", cm("b1", "b", {"app": "web"}))
        await s.create("configmaps", cm("a2", "a", {"app": "db"}))
        await s.create("configmaps", cm("b2", "b", {"app": "db"}))
        await s.create("configmaps", cm("end", "a", {"app": "web"}))
        await s.create("configmaps", cm("end-b", "b", {"app": "db"}))

        by_ns = s.watch("configmaps", namespace="a", resource_version=start)
        assert [e.object["metadata"]["name"] for e in await until(by_ns, "end")] == ["a1", "a2", "end"]
        by_label = s.watch("configmaps", resource_version=start, selector=parse("app=web"))
        assert [e.object["metadata"]["name"] for e in await until(by_label, "end")] == [
            "a1",
            "b1",
            "end",
        ]
        both = s.watch("configmaps", "b", start, parse("app!=web"))
        assert [e.object["metadata"]["name"] for e in await until(both, "end-b")] == ["b2", "end-b"]
        for stream in (by_ns, by_label, both):
            await stream.aclose()  # type: ignore[attr-defined]

    store_backend.run(body)


def test_watch_resume_after_disconnect(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        _, start = await s.list("configmaps")
        first_half = await _script(s)
        stream = s.watch("configmaps", resource_version=start)
        seen = summary(await take(stream, 3))
        await stream.aclose()  # type: ignore[attr-defined]
        # writes while disconnected
        extra = [await s.create("configmaps", cm(f"x{i}")) for i in range(3)]
        expected = first_half + [("ADDED", o["metadata"]["name"], rv(o)) for o in extra]
        resumed = s.watch("configmaps", resource_version=str(seen[-1][2]))
        seen += summary(await take(resumed, len(expected) - 3))
        assert seen == expected  # no gap, no duplicate
        await resumed.aclose()  # type: ignore[attr-defined]

    store_backend.run(body)


def test_watch_too_old_version_is_gone(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        first = await s.create("configmaps", cm("first"))
        for i in range(12):
            await s.create("configmaps", cm(f"n{i}"))
        if store_backend.name == "etcd":
            await s.compact()  # type: ignore[attr-defined]
        with pytest.raises(Gone) as err:
            await take(s.watch("configmaps", resource_version=str(rv(first))), 1)
        assert err.value.code == 410
        # a recent version is still fine
        _, now = await s.list("configmaps")
        recent = s.watch("configmaps", resource_version=now)
        last = await s.create("configmaps", cm("last"))
        assert summary(await take(recent, 1)) == [("ADDED", "last", rv(last))]
        await recent.aclose()  # type: ignore[attr-defined]

    store_backend.run(body, history=5)


def test_close_ends_watches(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        stream = s.watch("configmaps")
        pending = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.2)
        await s.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(pending, 10)

    store_backend.run(body)


def test_list_pages_through_large_results(
    store_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("podnet.store.etcd.LIST_PAGE", 4)  # etcd lists in pages; force many

    async def body(s: Store) -> None:
        await asyncio.gather(*(s.create("configmaps", cm(f"o{i:02d}")) for i in range(19)))
        items, list_rv = await s.list("configmaps")
        assert names(items) == [f"default/o{i:02d}" for i in range(19)]
        assert int(list_rv) == max(rv(o) for o in items)

    store_backend.run(body)


def test_invalid_watch_version_is_bad_request(store_backend: Backend) -> None:
    async def body(s: Store) -> None:
        with pytest.raises(BadRequest) as err:
            await take(s.watch("configmaps", resource_version="not-a-number"), 1)
        assert err.value.code == 400

    store_backend.run(body)


def test_open_store_urls(tmp_path: Path) -> None:
    memory = open_store("memory://?history=3")
    assert isinstance(memory, MemoryStore)
    sqlite = open_store(f"sqlite://{tmp_path}/a/state.db?history=7")
    assert isinstance(sqlite, SQLiteStore)
    assert sqlite.path == f"{tmp_path}/a/state.db" and sqlite.history == 7
    plain = open_store(str(tmp_path / "plain.db"))
    assert isinstance(plain, SQLiteStore) and plain.path == str(tmp_path / "plain.db")
    etcd = open_store("etcd://10.1.2.3:1234?prefix=/cluster-a/")
    assert isinstance(etcd, EtcdStore)
    assert (etcd.host, etcd.port, etcd.prefix) == ("10.1.2.3", 1234, "/cluster-a")
    assert isinstance(open_store("etcd://localhost"), EtcdStore)
    for bad in ("ftp://x", "sqlite://", "etcd://", "memory://?history=lots"):
        with pytest.raises(StoreError):
            open_store(bad)

    async def close() -> None:
        for store in (memory, sqlite, plain, etcd):
            await store.close()

    asyncio.run(close())
