"""SQLite store beyond the shared contract: kill -9 safety, restarts, other readers, batching.

The kill -9 test runs a real writer process that creates objects from several
concurrent tasks and prints each name only after ``create`` returned; it is
killed with SIGKILL at a random moment. Every printed (acknowledged) name must
be in the reopened file, which must pass SQLite's integrity check.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podnet.store.base import AlreadyExists, Gone
from podnet.store.open import open_store
from podnet.store.sqlite import SQLiteStore

WRITER = """
import asyncio, os, sys
from podnet.store.sqlite import SQLiteStore

async def main(path: str, tag: str) -> None:
    store = SQLiteStore(path)
    async def worker(w: int) -> None:
        i = 0
        while True:
            name = f"{tag}-w{w}-{i}"
            obj = {"metadata": {"name": name, "namespace": "default"}, "data": {"i": str(i)}}
            await store.create("configmaps", obj)
            os.write(1, (name + "\\n").encode())  # acknowledged: print it
            i += 1
    await asyncio.gather(*(worker(w) for w in range(8)))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def cm(name: str, ns: str = "default") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": ns}, "data": {"k": "v"}}


def _kill_writer_at_random(db: Path, tag: str, out: Path) -> list[str]:
    with open(out, "wb") as stdout:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), tag], stdout=stdout)
    try:
        deadline = time.monotonic() + 30
        while out.stat().st_size == 0:  # wait until writes flow
            assert proc.poll() is None, "writer died"
            assert time.monotonic() < deadline, "writer acknowledged nothing"
            time.sleep(0.01)
        time.sleep(random.uniform(0.0, 0.4))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return [line for line in out.read_text().splitlines() if line]


async def _check_after_crash(db: Path, acked: list[str], tag: str) -> None:
    store = SQLiteStore(db)
    items, list_rv = await store.list("configmaps")
    stored = {o["metadata"]["name"] for o in items}
    missing = [n for n in acked if n not in stored]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:3]}"
    versions = [int(o["metadata"]["resourceVersion"]) for o in items]
    assert len(set(versions)) == len(versions) and max(versions) <= int(list_rv)
    # the counter continues after the crash: a new write gets a newer version
    new = await store.create("configmaps", cm(f"after-{tag}"))
    assert int(new["metadata"]["resourceVersion"]) > int(list_rv)
    await store.close()


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    acked: list[str] = []
    for round_ in range(3):  # each round reopens what the killed writer left behind
        acked += _kill_writer_at_random(db, f"r{round_}", tmp_path / f"out{round_}")
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        asyncio.run(_check_after_crash(db, acked, f"r{round_}"))
    assert len(acked) > 0


def test_restart_keeps_objects_counter_and_watch_history(tmp_path: Path) -> None:
    db = tmp_path / "state.db"

    async def first() -> str:
        store = open_store(f"sqlite://{db}")
        await store.create("configmaps", cm("a"))
        _, rv = await store.list("configmaps")
        await store.create("configmaps", cm("b"))
        await store.delete("configmaps", "default", "a")
        await store.close()
        return rv

    async def second(rv: str) -> None:
        store = open_store(str(db))  # a plain path works too
        events = store.watch("configmaps", resource_version=rv)
        got = [await asyncio.wait_for(anext(events), 10) for _ in range(2)]
        assert [(e.type, e.object["metadata"]["name"]) for e in got] == [
            ("ADDED", "b"),
            ("DELETED", "a"),
        ]
        await events.aclose()  # type: ignore[attr-defined]
        items, _ = await store.list("configmaps")
        assert [o["metadata"]["name"] for o in items] == ["b"]
        await store.close()

    asyncio.run(second(asyncio.run(first())))


def test_second_store_on_same_file_sees_writes_by_polling(tmp_path: Path) -> None:
    """A watcher whose store did not make the write (another process) still gets the event."""

    async def body() -> None:
        writer = SQLiteStore(tmp_path / "state.db")
        reader = SQLiteStore(tmp_path / "state.db", poll_interval=0.05)
        _, rv = await reader.list("configmaps")
        events = reader.watch("configmaps", resource_version=rv)
        for i in range(3):
            await writer.create("configmaps", cm(f"o{i}"))
        got = [await asyncio.wait_for(anext(events), 10) for _ in range(3)]
        assert [e.object["metadata"]["name"] for e in got] == ["o0", "o1", "o2"]
        late = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.1)
        await writer.create("configmaps", cm("late"))
        assert (await asyncio.wait_for(late, 10)).object["metadata"]["name"] == "late"
        await events.aclose()  # type: ignore[attr-defined]
        await reader.close()
        await writer.close()

    asyncio.run(body())


def test_concurrent_writes_share_commits_and_fail_alone(tmp_path: Path) -> None:
    async def body() -> None:
        store = SQLiteStore(tmp_path / "state.db")
        results = await asyncio.gather(
            *(store.create("configmaps", cm(f"o{i % 400}")) for i in range(500)),
            return_exceptions=True,
        )
        ok = [r for r in results if isinstance(r, dict)]
        dupes = [r for r in results if isinstance(r, AlreadyExists)]
        assert len(ok) == 400 and len(dupes) == 100
        versions = sorted(int(o["metadata"]["resourceVersion"]) for o in ok)
        assert versions == list(range(versions[0], versions[0] + 400))  # contiguous, no holes
        items, _ = await store.list("configmaps")
        assert len(items) == 400
        await store.close()

    asyncio.run(body())


def test_slow_watcher_that_falls_out_of_history_gets_gone(tmp_path: Path) -> None:
    async def body() -> None:
        store = SQLiteStore(tmp_path / "state.db", history=10)
        _, rv = await store.list("configmaps")
        events = store.watch("configmaps", resource_version=rv)
        await store.create("configmaps", cm("first"))
        assert (await anext(events)).object["metadata"]["name"] == "first"
        for i in range(30):
            await store.create("configmaps", cm(f"n{i}"))
        with pytest.raises(Gone):  # the page already read is delivered, then the gap is reported
            for _ in range(31):
                await asyncio.wait_for(anext(events), 10)
        await store.close()

    asyncio.run(body())
