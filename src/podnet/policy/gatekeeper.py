"""The gatekeeper: one node's NetworkPolicy enforcement, kept in the kernel incrementally.

The node agent builds a ``Gatekeeper`` once its informers (pods, namespaces,
networkpolicies, ...) are synced, runs :meth:`Gatekeeper.run`, and awaits
:meth:`Gatekeeper.admit` for each new pod after it has an IP and before its
containers serve, so a pod created under an existing policy is never reachable
before its rules are in place.

Every informer event marks the gatekeeper dirty; the loop (after a 20 ms
debounce that turns a burst into one pass) resolves the cached objects
(``resolve.resolve``), compiles this node's table (``nftplan.compile_node``),
diffs it against the last applied one (``nftstate.changes``) and applies the
delta as one ``nft -f -`` transaction - element updates for pod, label and
namespace-label changes. Full rewrites (atomic) at start, after a failed
transaction and when the periodic check finds the table gone.

Where the table filters (and why): ``forward`` at priority filter sees every
packet a pod sends to another pod or to the outside, after service DNAT
(prerouting, priority dstnat) and before masquerade (postrouting), on the
source's node and on the destination's node alike - bridged same-node traffic
(br_netfilter runs the ip hooks), routed cross-node traffic (flat routes or the
vxlan device) and ClusterIP traffic DNATed to a pod. ``input`` adds the one
path forward misses: a pod's own connections to its node's addresses (egress).
The node's own traffic takes ``output`` and is never filtered: traffic from a
pod's own node is always allowed. Denied packets are dropped (not rejected),
as most CNIs do: a denied connection times out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from podnet.aio import wait_any
from podnet.api.config import ClusterConfig
from podnet.api.kinds import Obj
from podnet.policy import nftstate
from podnet.policy.nftplan import compile_node
from podnet.policy.nftstate import PolicyTable
from podnet.policy.resolve import resolve

log = logging.getLogger("podnet.policy.gatekeeper")
DEBOUNCE = 0.02


class Backend(Protocol):
    def apply(self, script: str) -> None: ...
    def table_exists(self) -> bool: ...


class KernelBackend:
    """``nft`` in ``netns`` (None: the calling thread's namespace - the agent runs in its node's)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns

    def apply(self, script: str) -> None:
        from podnet.kernel import nft_apply

        nft_apply.apply(script, self.netns)

    def table_exists(self) -> bool:
        from podnet.kernel import nft_apply

        return nft_apply.has_table(nftstate.FAMILY, nftstate.TABLE, self.netns)


@dataclass(frozen=True)
class SyncResult:
    mode: str  # "full" | "incremental" | "noop"
    generation: int
    elements: int  # written (full) or changed (incremental)
    compile_seconds: float
    apply_seconds: float
    applied_at: float  # time.monotonic() when the transaction returned
    error: str | None = None


def _key(obj: Obj) -> tuple[str, str]:
    m = obj.get("metadata") or {}
    return str(m.get("namespace") or ""), str(m.get("name") or "")


class Gatekeeper:
    """NetworkPolicy enforcement for the pods of one node (see the module docstring)."""

    def __init__(self, node_name: str, node_ip: str, config: ClusterConfig, informers: Any,
                 *, backend: Backend | None = None, check_period: float = 5.0) -> None:
        self.node_name, self.node_ip, self.config = node_name, node_ip, config
        self.informers = informers
        self.backend: Backend = backend or KernelBackend()
        self.check_period = check_period
        self.applied: PolicyTable | None = None
        self.syncs: list[SyncResult] = []  # the last few, newest last
        self._admitted: dict[tuple[str, str], Obj] = {}  # pods with an IP the cache lacks yet
        self._requested = 1  # generation wanted (bumped by every event)
        self._applied_gen = 0
        self._need_full = True
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._ready = asyncio.Event()
        self._stopped = False
        self._seen: dict[tuple[str, str], tuple[Any, ...]] = {}
        informers.get("pods").add_handler(self._on_pod)
        for resource in ("namespaces", "networkpolicies"):
            informers.get(resource).add_handler(lambda _ev: self.kick())

    # -- inputs ----------------------------------------------------------------
    def kick(self) -> int:
        """Something changed: ask for a sync; returns the generation that will include it."""
        self._requested += 1
        self._wake.set()
        return self._requested

    def _on_pod(self, ev: Any) -> None:
        """Pods change status often; only what policies look at needs a sync."""
        key = _key(ev.object)
        if ev.type == "DELETED":
            self._seen.pop(key, None)
            self.kick()
            return
        mark = _fingerprint(ev.object)
        if self._seen.get(key) != mark:
            self._seen[key] = mark
            self.kick()

    async def admit(self, pod: Obj) -> None:
        """Return once the rules covering ``pod`` (which carries its podIP) are in the kernel."""
        self._admitted[_key(pod)] = pod
        if not self.informers.get("networkpolicies").cache and self._ready.is_set():
            self.kick()  # no policy anywhere: nothing isolates the pod, no need to wait
            return
        gen = self.kick()
        await self.wait_applied(gen)

    async def wait_applied(self, generation: int) -> bool:
        """Wait until ``generation`` is applied; False when the gatekeeper stopped first."""
        while self._applied_gen < generation:
            if self._stopped:
                log.warning("gatekeeper stopped: not waiting for policy generation %d", generation)
                return False
            progress = self._progress
            await progress.wait()
        return True

    @property
    def generation(self) -> int:
        return self._requested

    @property
    def applied_generation(self) -> int:
        return self._applied_gen

    def objects(self) -> tuple[list[Obj], list[Obj], list[Obj]]:
        """Pods (with admitted ones' IPs), namespaces and policies from the informer caches."""
        cache = self.informers.get("pods").cache
        pods = dict(cache)
        for key, pod in list(self._admitted.items()):
            have = cache.get(key)
            same = have is not None and have["metadata"].get("uid") == pod["metadata"].get("uid")
            if not same or (have.get("status") or {}).get("podIP"):
                self._admitted.pop(key)  # deleted, replaced, or the cache knows the IP now
                continue
            pods[key] = {**have, "status": {**(have.get("status") or {}),
                                            "podIP": pod["status"]["podIP"]}}
        return (list(pods.values()), list(self.informers.get("namespaces").cache.values()),
                list(self.informers.get("networkpolicies").cache.values()))

    # -- syncing ---------------------------------------------------------------
    def desired(self, pods: list[Obj], namespaces: list[Obj], policies: list[Obj]) -> PolicyTable:
        if not policies:  # nothing isolates anyone: the table is the same whatever the pods
            pods = []
        return compile_node(resolve(pods, namespaces, policies), self.node_name)

    def sync_now(self, gen: int, pods: list[Obj], namespaces: list[Obj], policies: list[Obj]
                 ) -> SyncResult:
        """Compile and apply (blocking; run in a thread). Records the result."""
        t0 = time.perf_counter()
        table = self.desired(pods, namespaces, policies)
        delta = None if self._need_full or self.applied is None else nftstate.changes(self.applied, table)
        if delta is None:
            mode, script, count = "full", nftstate.full(table), table.element_count
        else:
            mode, script = ("incremental" if delta.script else "noop"), delta.script
            count = delta.elements_added + delta.elements_deleted
        t1 = time.perf_counter()
        error = None
        if script:
            try:
                self.backend.apply(script)
            except Exception as err:  # nothing changed in the kernel: full rewrite next
                error = str(err)
                self._need_full = True
                log.warning("policy sync (%s) failed, full sync next: %s", mode, err)
        if error is None:
            self.applied, self._need_full = table, False
        result = SyncResult(mode, gen, count, t1 - t0, time.perf_counter() - t1, time.monotonic(),
                            error)
        self.syncs = [*self.syncs[-49:], result]
        return result

    async def sync(self) -> SyncResult:
        gen = self._requested
        self._wake.clear()
        objs = self.objects()  # snapshot in the loop: the informers mutate the caches here
        result = await asyncio.to_thread(self.sync_now, gen, *objs)
        if result.error is None:
            self._applied_gen = max(self._applied_gen, gen)
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Full sync, then follow events (within ~DEBOUNCE + compile + apply); check periodically."""
        loop = asyncio.get_running_loop()
        next_check = loop.time() + self.check_period
        failures = 0
        try:
            while not stop.is_set():
                if self._requested > self._applied_gen or self._need_full:
                    await asyncio.sleep(DEBOUNCE)
                    result = await self.sync()
                    if result.error is None:
                        failures = 0
                        self._ready.set()
                        if result.mode != "noop":
                            log.info("policy sync %s: %d elements, compile %.3fs, apply %.3fs",
                                     result.mode, result.elements, result.compile_seconds,
                                     result.apply_seconds)
                    else:
                        failures += 1
                        await wait_any(stop, min(0.1 * 2 ** failures, 5.0))
                    continue
                if loop.time() >= next_check:
                    next_check = loop.time() + self.check_period
                    if not await asyncio.to_thread(self.backend.table_exists):
                        log.warning("table %s %s is gone: rewriting it", nftstate.FAMILY, nftstate.TABLE)
                        self._need_full = True
                    continue
                await wait_any(stop, next_check - loop.time(), self._wake)
        finally:
            self._stopped = True
            self._progress.set()


def _fingerprint(pod: Obj) -> tuple[Any, ...]:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    ports = [c.get("ports") for c in spec.get("containers") or []]
    return (meta.get("uid"), sorted((meta.get("labels") or {}).items()), spec.get("nodeName"),
            spec.get("hostNetwork"), status.get("podIP"), status.get("phase"), repr(ports))
