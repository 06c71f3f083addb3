"""The controller framework: informers in, one level-triggered reconcile pass out.

A controller names the resources it watches (``watches``); their shared
informers keep caches fresh. Any event marks the controller dirty; the run loop
waits a few milliseconds so a burst of events becomes one pass (debounce; under a
steady stream of events, as long as the last pass took, up to 0.5 s), then
calls ``reconcile()``: a full pass over the cached state that makes the store
match it and returns how many writes it made. Work on one object is wrapped in
``guard`` so a bad object is logged and retried with backoff without stopping
the others; conflicts (someone wrote in between) simply cause another pass.
Controllers that depend on the clock (node heartbeats, grace periods) set
``resync_seconds`` to be woken up periodically as well.

Writes go through ``create``/``update``/``update_status``/``delete``, which count
them and write the store's answer through the informer cache, so a pass never
repeats work the previous pass did before its watch events arrive.

``sync_once()`` relists and reconciles once, for tests and the offline pipeline.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from podnet.api.config import ClusterConfig
from podnet.api.kinds import Obj, rfc3339
from podnet.controllers.informer import Informer, InformerSet
from podnet.controllers.podutil import (
    SuffixFn,
    controller_ref,
    hashed_suffix,
    is_terminating,
    random_suffix,
)
from podnet.store.base import AlreadyExists, Conflict, NotFound, Store, WatchEvent

log = logging.getLogger(__name__)
MAX_GATHER_SECONDS = 0.5  # the longest wait for events to gather before a pass


@dataclass(frozen=True)
class ControllerOptions:
    """Settings shared by all controllers of one manager."""

    node_grace_seconds: float = 40.0  # heartbeat age after which a node is NotReady
    deterministic_names: bool = False  # offline: name suffixes derived from a seed
    orphan_gc: bool = True  # delete dependents whose owner is gone
    debounce_seconds: float = 0.03
    # Services whose EndpointSlices are observed state (from a cluster dump): kept as given
    observed_slices: frozenset[tuple[str, str]] = frozenset()
    clock: Callable[[], float] = field(default=time.time)

    @property
    def suffix(self) -> SuffixFn:
        return hashed_suffix if self.deterministic_names else random_suffix


_GRACE_PARAM: dict[type, bool] = {}


def _accepts_grace(store: Store) -> bool:
    t = type(store)
    if t not in _GRACE_PARAM:
        try:
            _GRACE_PARAM[t] = "grace_period_seconds" in inspect.signature(store.delete).parameters
        except (TypeError, ValueError):
            _GRACE_PARAM[t] = False
    return _GRACE_PARAM[t]


class Controller:
    """Base class: subclasses set ``name``/``watches`` and implement ``reconcile``."""

    name: ClassVar[str] = "controller"
    watches: ClassVar[tuple[str, ...]] = ()
    resync_seconds: ClassVar[float | None] = None

    def __init__(
        self,
        store: Store,
        config: ClusterConfig | None = None,
        *,
        informers: InformerSet | None = None,
        options: ControllerOptions | None = None,
    ) -> None:
        self.store = store
        self.config = config or ClusterConfig()
        self.options = options or ControllerOptions()
        self.informers = informers or InformerSet(store)
        self.writes = 0
        self.errors: list[str] = []
        self.retry = False  # the last pass hit a conflict or an error
        self._dirty = asyncio.Event()
        for r in self.watches:
            self.informers.get(r).add_handler(functools.partial(self._on_event, r))

    # -- what subclasses implement --

    async def reconcile(self) -> int:
        """One full level-triggered pass; returns the number of writes made."""
        raise NotImplementedError

    # -- cache access --

    def informer(self, resource: str) -> Informer:
        return self.informers.get(resource)

    def objects(self, resource: str, namespace: str | None = None) -> list[Obj]:
        items = self.informer(resource).items()
        if namespace is None:
            return items
        return [o for o in items if (o.get("metadata") or {}).get("namespace", "") == namespace]

    def cached(self, resource: str, namespace: str, name: str) -> Obj | None:
        return self.informer(resource).cache.get((namespace, name))

    def resync_interval(self) -> float | None:
        """Seconds between passes when nothing happens (None: only on events)."""
        return self.resync_seconds

    def now(self) -> float:
        return self.options.clock()

    def now_str(self) -> str:
        return rfc3339(self.now())

    # -- running --

    def wakes(self, resource: str, ev: WatchEvent) -> bool:
        """Whether this event may change what a pass does (default: every event does)."""
        return True

    def _on_event(self, resource: str, ev: WatchEvent) -> None:
        if self.wakes(resource, ev):
            self._dirty.set()

    async def run_pass(self) -> int:
        """``reconcile`` with errors caught: a failing pass is logged, never raised."""
        self.errors = []
        self.retry = False
        start = self.writes
        try:
            await self.reconcile()
        except Exception as e:
            log.exception("%s: reconcile failed", self.name)
            self.errors.append(f"{self.name}: {e}")
            self.retry = True
        return self.writes - start

    async def sync_once(self) -> int:
        """Relist what this controller watches, then reconcile once."""
        await self.informers.relist(self.watches)
        return await self.run_pass()

    async def run(self) -> None:
        """Forever: wait for events (or the resync timer), debounce, reconcile."""
        await self.informers.wait_synced(self.watches)
        backoff = took = 0.0
        self._dirty.set()
        while True:
            timeout = backoff or self.resync_interval()
            try:
                await asyncio.wait_for(self._dirty.wait(), timeout)
            except TimeoutError:
                pass
            # a pass is O(cache): under a stream of events, let them gather for about as
            # long as the last pass took, so passes take at most about half the time
            await asyncio.sleep(max(self.options.debounce_seconds, min(took, MAX_GATHER_SECONDS)))
            self._dirty.clear()
            started = time.monotonic()
            await self.run_pass()
            took = time.monotonic() - started
            backoff = min(max(backoff * 2, 0.1), 10.0) if self.retry else 0.0

    async def guard(self, what: str, work: Awaitable[Any]) -> None:
        """Await ``work`` (the handling of one object); log and remember failures."""
        try:
            await work
        except (Conflict, AlreadyExists, NotFound) as e:
            log.debug("%s: %s: %s (will retry)", self.name, what, e)
            self.retry = True
        except Exception as e:
            log.exception("%s: %s failed", self.name, what)
            self.errors.append(f"{self.name}: {what}: {e}")
            self.retry = True

    # -- writes (counted, written through the cache) --

    def _observe(self, resource: str, obj: Obj) -> None:
        inf = self.informers.peek(resource)
        if inf is not None:
            inf.observe(obj)

    async def create(self, resource: str, obj: Obj) -> Obj:
        out = await self.store.create(resource, obj)
        self.writes += 1
        self._observe(resource, out)
        return out

    async def update(self, resource: str, obj: Obj) -> Obj:
        out = await self.store.update(resource, obj)
        self.writes += 1
        self._observe(resource, out)
        return out

    async def update_status(self, resource: str, obj: Obj) -> Obj:
        out = await self.store.update_status(resource, obj)
        self.writes += 1
        self._observe(resource, out)
        return out

    async def delete(self, resource: str, obj: Obj, grace_period_seconds: int | None = None) -> None:
        """Delete ``obj`` (precondition: its cached resourceVersion). Graceful deletes of
        bound pods only mark the object; the cache then holds the marked object."""
        m = obj.get("metadata") or {}
        ns, name = str(m.get("namespace") or ""), str(m["name"])
        rv = m.get("resourceVersion") or None
        if grace_period_seconds is not None and _accepts_grace(self.store):
            delete: Any = self.store.delete
            out = await delete(resource, ns, name, rv, grace_period_seconds=grace_period_seconds)
        else:
            out = await self.store.delete(resource, ns, name, rv)
        self.writes += 1
        inf = self.informers.peek(resource)
        if inf is None:
            return
        if is_terminating(out) or grace_period_seconds not in (None, 0):
            try:
                inf.observe(await self.store.get(resource, ns, name))
                return
            except NotFound:
                pass
        inf.forget(out)

    async def create_named(self, resource: str, obj: Obj, base: str, seed: str) -> Obj:
        """Create ``obj`` named ``base`` + a 5-char suffix, retrying on a name clash."""
        for attempt in range(20):
            name = base + self.options.suffix(f"{seed}/{attempt}")
            if self.cached(resource, str(obj["metadata"].get("namespace") or ""), name):
                continue
            obj["metadata"]["name"] = name
            try:
                return await self.create(resource, obj)
            except AlreadyExists:
                continue
        raise AlreadyExists(f"no free name for {base}*")

    async def collect_orphans(
        self, resource: str, dependents: list[Obj], owner_kind: str, owner_resource: str,
        live_uids: set[str],
    ) -> None:
        """Delete dependents whose controlling owner of ``owner_kind`` no longer exists
        (the garbage collector's job), after checking the owner in the store itself."""
        if not self.options.orphan_gc:
            return
        for d in dependents:
            ref = controller_ref(d)
            if not ref or ref.get("kind") != owner_kind or ref.get("uid") in live_uids:
                continue
            if is_terminating(d):
                continue
            ns = str((d.get("metadata") or {}).get("namespace") or "")
            try:
                owner = await self.store.get(owner_resource, ns, str(ref.get("name")))
                if (owner.get("metadata") or {}).get("uid") == ref.get("uid"):
                    continue
            except NotFound:
                pass
            await self.guard(f"gc {resource} {ns}/{d['metadata']['name']}",
                             self.delete(resource, d))
