"""SQLite Store: the default backend, one file in the cluster's state directory.

Durability: WAL journal with ``synchronous=FULL``; a write call returns only
after the transaction holding it has committed, so a kill -9 (or power loss)
never loses an acknowledged write.

Throughput: writes are queued and a single writer task applies everything that
is pending as one transaction in a worker thread (group commit), so many
concurrent writers share one fsync and the event loop never waits on the disk.
Reads (get, the watch's event queries) are short indexed queries on a second
connection, run directly in the event loop; a list, which may decode thousands
of rows, runs in a thread on a third connection.

Watch: every write also appends a row to the ``events`` table (bounded history,
see sqlite_tx.py). A watcher queries the rows after its position; it is woken
right after each local commit and otherwise polls every ``poll_interval``
seconds, which makes it see writes made by another process on the same file
(a restarted server, a second reader). A position older than the retained
history raises ``Gone`` (410).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

from podnet.api.kinds import Obj
from podnet.api.selectors import Selector
from podnet.store import sqlite_tx
from podnet.store.base import (
    Gone,
    RawWatchEvent,
    StoreError,
    WatchEvent,
    matches,
    parse_resource_version,
)
from podnet.store.sqlite_tx import Write

MAX_BATCH = 1000
WATCH_PAGE = 500


class SQLiteStore:
    """The Store protocol over one SQLite file. Use within one event loop."""

    def __init__(
        self, path: str | Path, history: int = 10_000, poll_interval: float = 0.15
    ) -> None:
        self.path = str(path)
        if self.path == ":memory:":  # each connection would see its own empty database
            raise StoreError("SQLiteStore needs a file; use memory:// for an in-memory store")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.history = max(1, history)
        self.poll_interval = poll_interval
        self._writer_conn = sqlite_tx.connect(self.path)
        sqlite_tx.init_schema(self._writer_conn)
        self._reader_conn = sqlite_tx.connect(self.path)
        self._list_conn = sqlite_tx.connect(self.path)  # lists decode many rows: in a thread
        self._list_lock = asyncio.Lock()
        self._pending: list[tuple[Write, asyncio.Future[Obj]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._waiters: set[asyncio.Event] = set()
        self._closed = False

    # -- reads --
    async def get(self, resource: str, namespace: str, name: str) -> Obj:
        self._check_open()
        return sqlite_tx.get(self._reader_conn, resource, namespace, name)

    async def list(
        self, resource: str, namespace: str | None = None, selector: Selector | None = None
    ) -> tuple[list[Obj], str]:
        self._check_open()
        async with self._list_lock:
            items, rv = await asyncio.to_thread(
                sqlite_tx.list_objects, self._list_conn, resource, namespace
            )
        if selector is not None:
            items = [o for o in items if matches(o, None, selector)]
        return items, str(rv)

    # -- writes --
    async def create(self, resource: str, obj: Obj) -> Obj:
        return await self._submit(Write("create", resource, obj))

    async def update(self, resource: str, obj: Obj) -> Obj:
        return await self._submit(Write("update", resource, obj))

    async def update_status(self, resource: str, obj: Obj) -> Obj:
        return await self._submit(Write("status", resource, obj))

    async def delete(
        self, resource: str, namespace: str, name: str, resource_version: str | None = None
    ) -> Obj:
        w = Write("delete", resource, namespace=namespace, name=name)
        return await self._submit(dataclasses.replace(w, resource_version=resource_version))

    async def _submit(self, w: Write) -> Obj:
        self._check_open()
        fut: asyncio.Future[Obj] = asyncio.get_running_loop().create_future()
        self._pending.append((w, fut))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        # the write commits even if this caller is cancelled; only the answer is dropped
        return await asyncio.shield(fut)

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            writes = [w for w, _ in batch]
            try:
                results = await asyncio.to_thread(
                    sqlite_tx.apply_batch, self._writer_conn, writes, self.history
                )
            except Exception as e:  # the whole transaction failed (disk full, I/O error)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(StoreError(f"sqlite write failed: {e}"))
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, StoreError):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
            self._wake_watchers()

    def _wake_watchers(self) -> None:
        for wake in self._waiters:
            wake.set()

    # -- watch --
    async def watch(
        self,
        resource: str,
        namespace: str | None = None,
        resource_version: str | None = None,
        selector: Selector | None = None,
    ) -> AsyncIterator[WatchEvent]:
        async with contextlib.aclosing(self.watch_raw(resource, namespace, resource_version)) as raws:
            async for raw in raws:
                ev = WatchEvent(raw.type, json.loads(raw.raw))
                if matches(ev.object, None, selector):
                    yield ev

    async def watch_raw(
        self,
        resource: str,
        namespace: str | None = None,
        resource_version: str | None = None,
    ) -> AsyncGenerator[RawWatchEvent, None]:
        """The events as logged (JSON text, undecoded); see :class:`RawWatchEvent`."""
        self._check_open()
        start = parse_resource_version(resource_version)
        head, compacted = sqlite_tx.head(self._reader_conn)
        if start is None:
            start = head
        elif start < compacted:
            raise Gone(f"too old resource version: {start} ({compacted})")
        wake = asyncio.Event()
        self._waiters.add(wake)
        try:
            last = start
            while not self._closed:
                wake.clear()
                events, upto, compacted = sqlite_tx.events_after(
                    self._reader_conn, resource, namespace, last, WATCH_PAGE
                )
                if last < compacted:  # fell behind the retained history
                    raise Gone(f"too old resource version: {last} ({compacted})")
                last = upto
                for rv, etype, data in events:
                    yield RawWatchEvent(etype, rv, data)  # type: ignore[arg-type]
                if len(events) >= WATCH_PAGE:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll_interval)
        finally:
            self._waiters.discard(wake)

    # -- lifecycle --
    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    async def close(self) -> None:
        """Finish pending writes, end all watches and close the file."""
        if self._closed:
            return
        if self._writer is not None:
            await asyncio.shield(self._writer)
        self._closed = True
        self._wake_watchers()
        await asyncio.sleep(0)
        async with self._list_lock:
            self._list_conn.close()
        self._reader_conn.close()
        self._writer_conn.close()
