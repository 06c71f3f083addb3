"""In-memory Store: for tests and the offline pipeline. Same contract as SQLite/etcd.

History for watch resume is a bounded deque of events; resuming from a version
older than the oldest retained event raises ``Gone`` (410), like a compacted etcd.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
from collections import deque
from collections.abc import AsyncIterator

from podnet.api.kinds import Obj
from podnet.api.selectors import Selector
from podnet.store.base import (
    AlreadyExists,
    Gone,
    NotFound,
    WatchEvent,
    check_version,
    matches,
    obj_name,
    obj_namespace,
    parse_resource_version,
    prepare_create,
    prepare_status_update,
    prepare_update,
)


class MemoryStore:
    """A dict of dicts plus an event log; safe within one asyncio event loop."""

    def __init__(self, history: int = 100_000) -> None:
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {}
        # like an etcd revision, an empty store is at 1, so a list never returns "0"
        # (which a following watch would read as "from now", losing writes in between)
        self._rv = 1
        self._log: deque[tuple[int, str, WatchEvent]] = deque(maxlen=history)
        self._waiters: set[asyncio.Event] = set()
        self._closed = False

    # -- reads --
    async def get(self, resource: str, namespace: str, name: str) -> Obj:
        try:
            return copy.deepcopy(self._objects[resource][(namespace, name)])
        except KeyError:
            raise NotFound(f'{resource} "{name}" not found') from None

    async def list(
        self, resource: str, namespace: str | None = None, selector: Selector | None = None
    ) -> tuple[list[Obj], str]:
        table = self._objects.get(resource, {})
        items = [
            copy.deepcopy(o) for _, o in sorted(table.items()) if matches(o, namespace, selector)
        ]
        return items, str(self._rv)

    # -- writes --
    def _emit(self, resource: str, etype: str, obj: Obj) -> None:
        self._log.append((self._rv, resource, WatchEvent(etype, copy.deepcopy(obj))))  # type: ignore[arg-type]
        for w in self._waiters:
            w.set()

    async def create(self, resource: str, obj: Obj) -> Obj:
        ns, name = obj_namespace(obj), obj_name(obj)
        table = self._objects.setdefault(resource, {})
        if (ns, name) in table:
            raise AlreadyExists(f'{resource} "{name}" already exists')
        self._rv += 1
        out = prepare_create(obj, self._rv)
        table[(ns, name)] = out
        self._emit(resource, "ADDED", out)
        return copy.deepcopy(out)

    async def update(self, resource: str, obj: Obj) -> Obj:
        ns, name = obj_namespace(obj), obj_name(obj)
        stored = await self._stored(resource, ns, name)
        out = prepare_update(obj, stored, self._rv + 1)
        self._rv += 1
        self._objects[resource][(ns, name)] = out
        self._emit(resource, "MODIFIED", out)
        return copy.deepcopy(out)

    async def update_status(self, resource: str, obj: Obj) -> Obj:
        ns, name = obj_namespace(obj), obj_name(obj)
        stored = await self._stored(resource, ns, name)
        out = prepare_status_update(obj, stored, self._rv + 1)
        self._rv += 1
        self._objects[resource][(ns, name)] = out
        self._emit(resource, "MODIFIED", out)
        return copy.deepcopy(out)

    async def delete(
        self, resource: str, namespace: str, name: str, resource_version: str | None = None
    ) -> Obj:
        stored = await self._stored(resource, namespace, name)
        if resource_version:
            check_version({"metadata": {"resourceVersion": resource_version}}, stored)
        del self._objects[resource][(namespace, name)]
        self._rv += 1
        out = copy.deepcopy(stored)
        out["metadata"]["resourceVersion"] = str(self._rv)
        self._emit(resource, "DELETED", out)
        return out

    async def _stored(self, resource: str, ns: str, name: str) -> Obj:
        try:
            return self._objects[resource][(ns, name)]
        except KeyError:
            raise NotFound(f'{resource} "{name}" not found') from None

    # -- watch --
    def _events_after(self, last: int) -> builtins.list[tuple[int, str, WatchEvent]]:
        """Retained events with rv > ``last``, oldest first (scans only the new tail)."""
        out: builtins.list[tuple[int, str, WatchEvent]] = []
        for item in reversed(self._log):
            if item[0] <= last:
                break
            out.append(item)
        out.reverse()
        return out

    def _check_retained(self, last: int) -> None:
        oldest = self._log[0][0] if self._log else self._rv + 1
        if last < self._rv and oldest > last + 1:
            raise Gone(f"too old resource version: {last} ({oldest - 1})")

    async def watch(
        self,
        resource: str,
        namespace: str | None = None,
        resource_version: str | None = None,
        selector: Selector | None = None,
    ) -> AsyncIterator[WatchEvent]:
        start = parse_resource_version(resource_version)
        last = self._rv if start is None else start
        self._check_retained(last)
        wake = asyncio.Event()
        self._waiters.add(wake)
        try:
            while not self._closed:
                wake.clear()
                self._check_retained(last)  # a slow watcher may have fallen out of the history
                for rv, res, ev in self._events_after(last):
                    last = rv
                    if res == resource and matches(ev.object, namespace, selector):
                        yield WatchEvent(ev.type, copy.deepcopy(ev.object))
                if self._log and self._log[-1][0] > last:
                    continue
                await wake.wait()
        finally:
            self._waiters.discard(wake)

    async def close(self) -> None:
        """End all watches; the objects stay readable."""
        self._closed = True
        for w in self._waiters:
            w.set()
