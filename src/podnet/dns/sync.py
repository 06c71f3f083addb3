"""Keeping a Zone in step with the API: list + watch of the four kinds DNS reads.

``ZoneSync(store, zone)`` runs one ``Informer`` (podnet.controllers.informer)
per resource — services, endpointslices, pods, namespaces — over any object
with the ``Store`` protocol (the HTTP client of a live API server, the
in-process registry, a MemoryStore in tests). Every event is applied to the
zone as it arrives (one object each), which bumps the zone's version and so
invalidates the server's wire cache. The zone is marked synced once all four
informers have listed: until then the server answers cluster names SERVFAIL,
as CoreDNS does before its first sync. A relist after a ``Gone`` produces
ADDED/MODIFIED/DELETED events for the difference, so the zone converges.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from podnet.controllers.informer import Informer
from podnet.dns.zone import Zone
from podnet.store.base import Store, WatchEvent

RESOURCES = (
    ("services", "Service"),
    ("endpointslices", "EndpointSlice"),
    ("pods", "Pod"),
    ("namespaces", "Namespace"),
)


class ZoneSync:
    def __init__(self, store: Store, zone: Zone) -> None:
        self.store = store
        self.zone = zone
        self.informers: dict[str, Informer] = {}
        for resource, kind in RESOURCES:
            inf = Informer(store, resource)
            inf.add_handler(self._handler(kind))
            self.informers[resource] = inf
        self._tasks: list[asyncio.Task[None]] = []

    def _handler(self, kind: str) -> Callable[[WatchEvent], None]:
        def on_event(ev: WatchEvent) -> None:
            if ev.type in ("ADDED", "MODIFIED"):
                self.zone.upsert(kind, ev.object)
            elif ev.type == "DELETED":
                self.zone.delete(kind, ev.object)

        return on_event

    async def start(self) -> None:
        """Start the informers; the zone is marked synced once all have listed."""
        for resource, inf in self.informers.items():
            self._tasks.append(asyncio.create_task(inf.run(), name=f"dns-informer-{resource}"))
        self._tasks.append(asyncio.create_task(self._mark_synced(), name="dns-synced"))

    async def _mark_synced(self) -> None:
        for inf in self.informers.values():
            await inf.wait_synced()
        self.zone.mark_synced()

    async def wait_synced(self) -> None:
        for inf in self.informers.values():
            await inf.wait_synced()
        while not self.zone.synced:
            await asyncio.sleep(0)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
