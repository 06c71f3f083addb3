"""Informers: a local, watch-fed cache of one resource over any ``Store``.

An ``Informer`` lists the resource once, then watches from the list's
resourceVersion and applies every event to ``cache`` (``(namespace, name) ->
object``). When the watch ends or fails it resumes from the last version it
saw; when the store answers ``Gone`` (410, the version was compacted away) it
lists again and tells its handlers what changed in between. It works the same
over a ``MemoryStore``, the ``Registry`` or the HTTP ``Client``.

Controllers also write *through* the cache (``observe``/``forget``) right after
their own writes, so the next pass never acts on a state older than what it has
just written (the job Kubernetes' "expectations" do). Versions are compared as
integers (the store contract): an event older than what the cache holds for a
key is skipped, and a short-lived tombstone keeps a just-deleted object from
being resurrected by an old event still in flight.

``InformerSet`` shares one informer per resource between all controllers of a
manager, as client-go's shared informer factory does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from podnet.aio import cancel_all
from podnet.api.kinds import Obj
from podnet.api.selectors import Selector
from podnet.store.base import Gone, Store, WatchEvent

log = logging.getLogger(__name__)

Key = tuple[str, str]
Handler = Callable[[WatchEvent], None]


def _key(obj: Obj) -> Key:
    m = obj.get("metadata") or {}
    return str(m.get("namespace") or ""), str(m.get("name") or "")


def _rv(obj: Obj) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


class Informer:
    """list+watch cache of one resource; resumes after a disconnect, relists on Gone."""

    def __init__(
        self,
        store: Store,
        resource: str,
        namespace: str | None = None,
        selector: Selector | None = None,
    ) -> None:
        self.store = store
        self.resource = resource
        self.namespace = namespace
        self.selector = selector
        self.cache: dict[Key, Obj] = {}
        self.resource_version = ""
        self.lists = 0  # how many times this informer listed (tests and metrics)
        self._handlers: list[Handler] = []
        self._tombstones: dict[Key, int] = {}
        self._synced = asyncio.Event()
        self.backoff_max = 5.0
        self._sorted: list[Obj] | None = None  # items() until the cache changes

    def add_handler(self, fn: Handler) -> None:
        self._handlers.append(fn)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def items(self) -> list[Obj]:
        """Cached objects sorted by (namespace, name)."""
        if self._sorted is None:  # every controller asks on every pass: sort once per change
            self._sorted = [self.cache[k] for k in sorted(self.cache)]
        return list(self._sorted)

    # -- list --

    async def relist(self) -> str:
        """List now, replace the cache and notify handlers of the differences."""
        items, rv = await self.store.list(self.resource, self.namespace, self.selector)
        self.lists += 1
        fresh = {_key(o): o for o in items}
        old = self.cache
        self.cache = fresh
        self._sorted = None
        self._tombstones.clear()
        self.resource_version = rv
        self._synced.set()
        for k, o in fresh.items():
            prev = old.get(k)
            if prev is None:
                self._notify(WatchEvent("ADDED", o))
            elif _rv(prev) != _rv(o):
                self._notify(WatchEvent("MODIFIED", o))
        for k, o in old.items():
            if k not in fresh:
                self._notify(WatchEvent("DELETED", o))
        return rv

    # -- watch --

    async def run(self) -> None:
        """List, then watch forever; resume on disconnect, relist on Gone."""
        delay = 0.0
        need_list = not self.synced
        while True:
            try:
                if need_list:
                    await self.relist()
                    need_list = False
                await self._watch()
                delay = 0.0  # the stream ended cleanly: resume at once
            except asyncio.CancelledError:
                raise
            except Gone:
                log.info("informer %s: resourceVersion %s is gone, relisting",
                         self.resource, self.resource_version)
                need_list = True
            except Exception as e:  # connection lost, server restarting, ...
                delay = min(max(delay * 2, 0.1), self.backoff_max)
                log.warning("informer %s: watch failed (%s); retrying in %.1fs",
                            self.resource, e, delay)
                await asyncio.sleep(delay)

    async def _watch(self) -> None:
        stream = self.store.watch(self.resource, self.namespace, self.resource_version or None,
                                  self.selector)
        try:
            async for ev in stream:
                if ev.type == "ERROR":
                    code = int((ev.object or {}).get("code") or 0)
                    if code == 410:
                        raise Gone(str((ev.object or {}).get("message") or "watch expired"))
                    raise RuntimeError(f"watch error: {ev.object}")
                rv = _rv(ev.object)
                if rv:
                    self.resource_version = str(rv)
                if ev.type != "BOOKMARK":
                    self.apply_event(ev)
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()

    def apply_event(self, ev: WatchEvent) -> None:
        """Apply one watch event to the cache unless it is older than what the cache holds."""
        k, rv = _key(ev.object), _rv(ev.object)
        if self._tombstones:
            self._prune_tombstones(rv)
        have = self.cache.get(k)
        if ev.type == "DELETED":
            if have is not None and _rv(have) <= rv:
                del self.cache[k]
                self._sorted = None
                self._notify(ev)
            return
        if have is not None and _rv(have) >= rv:
            return
        if have is None and self._tombstones.get(k, -1) >= rv:
            return
        self._tombstones.pop(k, None)
        self.cache[k] = ev.object
        self._sorted = None
        self._notify(ev)

    def _prune_tombstones(self, seen: int) -> None:
        for k in [k for k, t in self._tombstones.items() if t <= seen]:
            del self._tombstones[k]

    # -- write-through from controllers --

    def observe(self, obj: Obj) -> None:
        """Record an object a controller just wrote (the store's answer)."""
        k = _key(obj)
        have = self.cache.get(k)
        if have is None or _rv(have) < _rv(obj):
            self._tombstones.pop(k, None)
            self.cache[k] = obj
            self._sorted = None
            # the watch event for this version will be skipped as already seen, so
            # tell the handlers now: other controllers sharing this informer need it
            self._notify(WatchEvent("ADDED" if have is None else "MODIFIED", obj))

    def forget(self, obj: Obj) -> None:
        """Record that a controller just deleted ``obj``."""
        k = _key(obj)
        had = self.cache.pop(k, None)
        self._sorted = None
        self._tombstones[k] = max(_rv(obj), int(self.resource_version or 0))
        if had is not None:
            self._notify(WatchEvent("DELETED", obj))

    def _notify(self, ev: WatchEvent) -> None:
        for fn in self._handlers:
            try:
                fn(ev)
            except Exception:
                log.exception("informer %s: handler failed", self.resource)


class InformerSet:
    """One shared informer per resource for every controller of a manager."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_resource: dict[str, Informer] = {}
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def get(self, resource: str) -> Informer:
        inf = self._by_resource.get(resource)
        if inf is None:
            inf = self._by_resource[resource] = Informer(self.store, resource)
        return inf

    def peek(self, resource: str) -> Informer | None:
        return self._by_resource.get(resource)

    @property
    def resources(self) -> list[str]:
        return sorted(self._by_resource)

    async def relist(self, resources: Iterable[str] | None = None) -> None:
        for r in sorted(set(resources if resources is not None else self._by_resource)):
            await self.get(r).relist()

    def start(self) -> None:
        """Start a watch task for every informer that has none yet."""
        for r, inf in self._by_resource.items():
            if r not in self._tasks or self._tasks[r].done():
                self._tasks[r] = asyncio.create_task(inf.run(), name=f"informer-{r}")

    async def wait_synced(self, resources: Iterable[str] | None = None) -> None:
        for r in resources if resources is not None else list(self._by_resource):
            await self.get(r).wait_synced()

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        await cancel_all(tasks)
