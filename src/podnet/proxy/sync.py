"""The applier: keep one node's ``podnet-proxy`` table equal to the plan, incrementally.

:class:`Proxier` is what the node agent embeds. It receives Services and
EndpointSlices (whole lists with :meth:`Proxier.update`, or one object at a
time from informer events), marks the affected services dirty, and on
:meth:`Proxier.sync` re-plans only those services, turns the element-level
delta into one ``nft`` transaction and applies it.

- Full sync (the whole table replaced atomically) at start, after a failed
  transaction, and when the periodic :meth:`Proxier.check` finds the table gone
  (someone ran ``nft flush ruleset``). Established connections survive all of
  these: their NAT bindings live in conntrack, not in the table.
- :meth:`Proxier.run` batches bursts: at most one sync per ``min_sync_period``.
- UDP flows DNATed to endpoints that disappeared are deleted from conntrack.

The kernel is behind a small :class:`Backend` protocol; :class:`KernelBackend`
runs ``nft``/``conntrack`` in a network namespace, tests may record instead.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from podnet.aio import wait_any
from podnet.api.config import ClusterConfig
from podnet.api.kinds import Obj, labels_of, name_of, namespace_of
from podnet.proxy import render
from podnet.proxy.assemble import Assembler
from podnet.proxy.endpoints import SERVICE_NAME_LABEL
from podnet.proxy.layout import FAMILY, TABLE
from podnet.proxy.model import Frontend, HealthCheck, ProxyPlan
from podnet.proxy.plan import plan_service, service_key

log = logging.getLogger(__name__)


class Backend(Protocol):
    def apply(self, script: str) -> None: ...
    def table_exists(self) -> bool: ...
    def delete_udp_flows(self, ip: str, port: int, dnat_to: str | None) -> None: ...


class KernelBackend:
    """The real kernel, inside ``netns`` (None: the calling thread's namespace)."""

    def __init__(self, netns: str | None = None, table: str = TABLE) -> None:
        self.netns = netns
        self.table = table

    def apply(self, script: str) -> None:
        from podnet.kernel import nft_apply

        nft_apply.apply(script, self.netns)

    def table_exists(self) -> bool:
        from podnet.kernel import nft_apply

        return nft_apply.has_table(FAMILY, self.table, self.netns)

    def delete_udp_flows(self, ip: str, port: int, dnat_to: str | None) -> None:
        from podnet.kernel import conntrack

        conntrack.delete_flows("udp", ip, port, dnat_to, self.netns)


@dataclass(frozen=True)
class SyncResult:
    mode: str  # "full" | "incremental" | "noop"
    services: int  # services re-planned
    elements: int  # elements written (full) or changed (incremental)
    plan_seconds: float
    apply_seconds: float
    error: str | None = None


class Proxier:
    """One node's service proxy (library form; the node agent drives it)."""

    def __init__(
        self,
        node_name: str,
        node_ips: Iterable[str],
        config: ClusterConfig | None = None,
        *,
        backend: Backend | None = None,
        netns: str | None = None,
        proxy_name: str | None = None,
        min_sync_period: float = 1.0,
        check_period: float = 30.0,
    ) -> None:
        self.node_name = node_name
        self.node_ips = tuple(node_ips)
        self.config = config or ClusterConfig()
        self.backend: Backend = backend or KernelBackend(netns)
        self.proxy_name = proxy_name
        self.min_sync_period = min_sync_period
        self.check_period = check_period
        self._lock = threading.RLock()
        self._services: dict[str, Obj] = {}
        self._slices: dict[str, dict[str, Obj]] = {}  # service key -> slice name -> slice
        self._dirty: set[str] = set()
        self._asm = Assembler(self.config.pod_cidr, node=node_name)
        self._by_service: dict[str, list[Frontend]] = {}
        self._health: dict[str, HealthCheck] = {}
        self._skipped: dict[str, str] = {}
        self._need_full = True
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.syncs: list[SyncResult] = []  # the last few results, newest last

    # -- inputs ----------------------------------------------------------------
    def update(self, services: Iterable[Obj], endpoint_slices: Iterable[Obj]) -> None:
        """Replace all inputs; only services whose objects changed are re-planned."""
        services_by_key = {service_key(s): s for s in services}
        slices: dict[str, dict[str, Obj]] = {}
        for sl in endpoint_slices:
            owner = _slice_owner(sl)
            if owner:
                slices.setdefault(owner, {})[name_of(sl)] = sl
        with self._lock:
            for key in services_by_key.keys() | self._services.keys():
                if services_by_key.get(key) != self._services.get(key):
                    self._dirty.add(key)
            for key in slices.keys() | self._slices.keys():
                if slices.get(key) != self._slices.get(key):
                    self._dirty.add(key)
            self._services, self._slices = services_by_key, slices
        self._notify()

    def set_service(self, svc: Obj) -> None:
        with self._lock:
            self._services[service_key(svc)] = svc
            self._dirty.add(service_key(svc))
        self._notify()

    def delete_service(self, svc: Obj) -> None:
        with self._lock:
            self._services.pop(service_key(svc), None)
            self._dirty.add(service_key(svc))
        self._notify()

    def set_endpoint_slice(self, sl: Obj) -> None:
        owner = _slice_owner(sl)
        if owner:
            with self._lock:
                self._slices.setdefault(owner, {})[name_of(sl)] = sl
                self._dirty.add(owner)
            self._notify()

    def delete_endpoint_slice(self, sl: Obj) -> None:
        owner = _slice_owner(sl)
        if owner:
            with self._lock:
                self._slices.get(owner, {}).pop(name_of(sl), None)
                self._dirty.add(owner)
            self._notify()

    # -- outputs ---------------------------------------------------------------
    @property
    def plan(self) -> ProxyPlan:
        """What is programmed (or about to be): the input of ``podnet explain``."""
        with self._lock:
            return ProxyPlan(self.node_name, self.node_ips, self.config.pod_cidr,
                             self._asm.frontends, tuple(self._health.values()),
                             dict(self._skipped))

    @property
    def health_checks(self) -> tuple[HealthCheck, ...]:
        with self._lock:
            return tuple(self._health.values())

    @property
    def pending(self) -> bool:
        with self._lock:
            return self._need_full or bool(self._dirty)

    # -- syncing ---------------------------------------------------------------
    def sync(self) -> SyncResult:
        """Re-plan dirty services and apply the delta now (full when needed)."""
        with self._lock:
            t0 = time.perf_counter()
            dirty, self._dirty = self._dirty, set()
            removed: list[tuple[Frontend, Frontend | None]] = []
            for key in sorted(dirty):
                old = self._by_service.pop(key, [])
                svc = self._services.get(key)
                fes: list[Frontend] = []
                self._health.pop(key, None)
                self._skipped.pop(key, None)
                if svc is not None:
                    slices = list(self._slices.get(key, {}).values())
                    fes, check, reason = plan_service(
                        svc, slices, self.node_name, self.node_ips, self.proxy_name)
                    if check is not None:
                        self._health[key] = check
                    if reason is not None:
                        self._skipped[key] = reason
                if fes:
                    self._by_service[key] = fes
                self._asm.set_service(key, fes)
                new_by_key = {fe.key: fe for fe in fes}
                removed += [(fe, new_by_key.get(fe.key)) for fe in old if fe.protocol == "udp"]
            full = self._need_full
            if full:
                state = self._asm.state()
                script = render.full(state)
                self._asm.forget_changes()
                count = state.element_count
            else:
                changes = self._asm.take_changes()
                if changes.chains_added or changes.chains_changed:
                    # nft 1.0.6 cannot add rules that use the endpoint maps to a live
                    # table (see podnet.proxy.layout): new chains mean a full sync.
                    full = True
                    state = self._asm.state()
                    script, count = render.full(state), state.element_count
                else:
                    script = render.script(FAMILY, self._asm.table, changes)
                    count = changes.element_count
            t1 = time.perf_counter()
            if not script:
                return self._record(SyncResult("noop", len(dirty), 0, t1 - t0, 0.0))
            try:
                self.backend.apply(script)
            except Exception as err:  # the transaction failed: nothing changed
                self._need_full = True
                log.warning("proxy sync failed, full sync next: %s", err)
                return self._record(SyncResult("full" if full else "incremental", len(dirty),
                                               0, t1 - t0, time.perf_counter() - t1, str(err)))
            self._need_full = False
            t2 = time.perf_counter()
            self._clear_udp_flows(removed)
            return self._record(SyncResult("full" if full else "incremental", len(dirty), count,
                                           t1 - t0, t2 - t1))

    def _clear_udp_flows(self, changes: list[tuple[Frontend, Frontend | None]]) -> None:
        for old, new in changes:
            try:
                if new is None or not new.has_endpoints:
                    self.backend.delete_udp_flows(old.ip, old.port, None)
                    continue
                still = {e.ip for e in (*new.endpoints, *(new.local_endpoints or ()))}
                for ip in {e.ip for e in (*old.endpoints, *(old.local_endpoints or ()))} - still:
                    self.backend.delete_udp_flows(old.ip, old.port, ip)
            except Exception as err:  # best effort: the flows time out anyway
                log.warning("conntrack cleanup for %s:%s failed: %s", old.ip, old.port, err)

    def _record(self, result: SyncResult) -> SyncResult:
        self.syncs = [*self.syncs[-19:], result]
        return result

    def check(self) -> bool:
        """Rebuild the table if someone deleted it; True when a full sync was done."""
        if self.backend.table_exists():
            return False
        with self._lock:
            self._need_full = True
        self.sync()
        return True

    # -- the loop --------------------------------------------------------------
    def _notify(self) -> None:
        wake, loop = self._wake, self._loop
        if wake is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)  # safe from any thread

    async def run(self, stop: asyncio.Event, health: object | None = None) -> None:
        """Sync whenever inputs change (at most once per ``min_sync_period``), check periodically.

        ``health`` may be a :class:`podnet.proxy.healthcheck.HealthCheckServer`;
        it is kept in step with the health checks after every sync.
        """
        self._wake = asyncio.Event()
        loop = self._loop = asyncio.get_running_loop()
        last_sync = -float("inf")
        next_check = loop.time() + self.check_period
        while not stop.is_set():
            if self.pending:
                delay = last_sync + self.min_sync_period - loop.time()
                if delay > 0:
                    await wait_any(stop, delay)
                    continue
                last_sync = loop.time()
                await asyncio.to_thread(self.sync)
                if health is not None:
                    await health.sync(self.health_checks)  # type: ignore[attr-defined]
                continue
            if loop.time() >= next_check:
                next_check = loop.time() + self.check_period
                await asyncio.to_thread(self.check)
                continue
            self._wake.clear()
            await wait_any(stop, next_check - loop.time(), self._wake)




def _slice_owner(sl: Obj) -> str | None:
    svc = labels_of(sl).get(SERVICE_NAME_LABEL)
    if not svc or sl.get("addressType", "IPv4") != "IPv4":
        return None
    return f"{namespace_of(sl) or 'default'}/{svc}"
