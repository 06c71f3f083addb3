"""The node agent: registers its Node, heartbeats, and runs the pods bound to it.

Level-triggered: every pass compares the pods the API binds to this node with
the pods this node runs (``PodRecord`` files on disk) and closes the gap —
sets up new ones, tears down deleted ones, restarts exited containers, runs
probes and writes status when it changed. A killed agent restarts, reloads the
records and adopts the running pods: nothing is duplicated, nothing leaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podnet.agent import dataplane, nodestatus, podenv
from podnet.agent.network import PodNetwork
from podnet.agent.paths import NodePaths, pod_netns_name
from podnet.agent.pods import PodRecord, PodRuntime
from podnet.agent.probes import ProbeTracker, run_once
from podnet.agent.status import pod_status, rfc3339, same_status
from podnet.api.config import MAX_BRIDGE_PORTS, ClusterConfig, NodeConfig
from podnet.api.kinds import Obj
from podnet.controllers.informer import InformerSet
from podnet.store.base import Conflict, NotFound, Store, StoreError

log = logging.getLogger("podnet.agent")
DEBOUNCE = 0.05
RELOAD_COALESCE = 0.005  # seconds: netexec reload requests closer than this share one SIGHUP


@dataclass
class AgentOptions:
    heartbeat: float = 10.0
    restart_base: float = 10.0
    resync: float = 1.0
    parallel: int = 8
    node_resolv: str = "/etc/resolv.conf"
    proxy: bool = True
    policy: bool = True
    proxy_min_sync: float = 1.0  # kube-proxy's default minSyncPeriod: a lone change syncs at once


class NodeAgent:
    def __init__(self, config: ClusterConfig, node: NodeConfig, store: Store,
                 network: PodNetwork, opts: AgentOptions | None = None) -> None:
        self.config, self.node, self.store, self.network = config, node, store, network
        self.opts = opts or AgentOptions()
        self.paths = NodePaths(config.name, node.name)
        self.informers = InformerSet(store)
        for r in ("pods", "services", "configmaps", "secrets", "endpointslices", "networkpolicies",
                  "namespaces"):
            self.informers.get(r)
        self.gatekeeper: Any = None  # NetworkPolicy enforcement (podnet.policy.gatekeeper)
        self.runtimes: dict[str, PodRuntime] = {}
        self.probes: dict[tuple[str, str, str], ProbeTracker] = {}
        self.busy: set[str] = set()
        self.retry_at: dict[str, tuple[float, float]] = {}  # uid -> (next attempt, back-off)
        self.kick = asyncio.Event()
        self.sem = asyncio.Semaphore(self.opts.parallel)
        self.work: set[asyncio.Task[None]] = set()  # set-ups and tear-downs in flight
        self.tended: dict[str, tuple[str, float]] = {}  # uid -> (resourceVersion, time) of last tend
        self._mine: dict[str, Obj] = {}  # uid -> pod bound to this node, from the pods informer
        self._reload_pending = False  # a signal to the built-in server is scheduled

    # -- the pass --
    def my_pods(self) -> dict[str, Obj]:
        """The pods bound to this node, by uid (kept by :meth:`_on_pod`, not a scan of every pod)."""
        return dict(self._mine)

    def _on_pod(self, ev: Any) -> None:
        """Keep :attr:`_mine` and wake the pass for this node's pods only: with 1,000 pods in the
        cluster, other nodes' pod events would otherwise each start a pass here."""
        pod = ev.object
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        if ev.type != "DELETED" and (pod.get("spec") or {}).get("nodeName") == self.node.name:
            self._mine[uid] = pod
        elif self._mine.pop(uid, None) is None:
            return
        self.kick.set()

    def load_records(self) -> None:
        for f in sorted(self.paths.pods.glob("*.json")) if self.paths.pods.is_dir() else []:
            with contextlib.suppress(ValueError, OSError, TypeError):
                rec = PodRecord.load(f)
                self.runtimes[rec.uid] = PodRuntime(self.paths, self.node.name, self.node.ip, rec)

    async def sync(self) -> None:
        """One pass. Set-ups and tear-downs start in the background (at most ``parallel`` at a
        time) so the next pass need not wait for the slowest; running pods are tended here,
        each when its object changed or ``resync`` seconds after its last tend."""
        desired = self.my_pods()
        for uid, rt in list(self.runtimes.items()):
            pod = desired.get(uid)
            if uid in self.busy:
                continue
            if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
                self._start(uid, self.teardown(rt, pod), self.sem)
        for uid, pod in desired.items():
            if uid in self.runtimes or uid in self.busy:
                continue
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                self._start(uid, self._delete_object(pod), None)
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            if time.monotonic() < self.retry_at.get(uid, (0.0, 0.0))[0]:
                continue  # its sandbox failed: retried with back-off
            self._start(uid, self.setup(pod), None)  # setup takes the semaphore itself
        tasks = []
        now = time.monotonic()
        for uid, rt in list(self.runtimes.items()):
            pod = desired.get(uid)
            if pod is None or uid in self.busy or pod["metadata"].get("deletionTimestamp"):
                continue
            rv = str(pod["metadata"].get("resourceVersion") or "")
            last = self.tended.get(uid)
            if last is None or last[0] != rv or (now - last[1] >= self.opts.resync
                                                 and _needs_watching(rt, pod)):
                self.tended[uid] = (rv, now)
                tasks.append(self._guard(uid, self.tend(rt, pod), None))
        if tasks:
            await asyncio.gather(*tasks)

    def _start(self, uid: str, coro: Any, sem: asyncio.Semaphore | None) -> None:
        self.busy.add(uid)
        task = asyncio.create_task(self._guard(uid, coro, sem))
        self.work.add(task)
        task.add_done_callback(self.work.discard)

    async def _guard(self, uid: str, coro: Any, sem: asyncio.Semaphore | None) -> None:
        self.busy.add(uid)
        try:
            if sem is None:
                await coro
            else:
                async with sem:
                    await coro
        except Exception:
            log.exception("pod %s: operation failed", uid)
        finally:
            self.busy.discard(uid)

    async def setup(self, pod: Obj) -> None:
        """Sandbox, network and containers (at most ``parallel`` at a time), then status."""
        async with self.sem:
            rt, failure = await self._setup(pod)
        if not failure and rt.record.pod_ip and not await rt.wait_serving(pod, self.netexec_reload):
            log.warning("pod %s/%s: built-in server not listening yet", rt.record.namespace, rt.record.name)
        await self.write_status(rt, pod)
        if failure:
            await self.event(pod, "FailedCreatePodSandBox", failure)
        elif rt.record.pod_ip:
            log.info("pod %s/%s running at %s", rt.record.namespace, rt.record.name, rt.record.pod_ip)

    async def _setup(self, pod: Obj) -> tuple[PodRuntime, str | None]:
        meta = pod["metadata"]
        rec = PodRecord(meta["uid"], meta["namespace"], meta["name"],
                        pod_netns_name(self.config.name, meta["namespace"], meta["name"]))
        rt = PodRuntime(self.paths, self.node.name, self.node.ip, rec)
        limit = min(self.node.max_pods, MAX_BRIDGE_PORTS)
        if len(self.runtimes) >= limit:  # running, being set up or torn down: each has a port
            why = ("a Linux bridge holds at most 1023 ports" if limit == MAX_BRIDGE_PORTS
                   else "its maxPods")
            rec.sandbox_error = f"node {self.node.name} already runs {limit} pods: {why}"
            return rt, None
        self.runtimes[rec.uid] = rt
        resolv = podenv.resolv_conf(pod, self.config.dns_service_ip, self.config.dns_domain,
                                    _read(self.opts.node_resolv))
        rec.save(self.paths.pods)  # recorded before the netns exists: `podnet down` can find it
        await asyncio.to_thread(rt.ensure_sandbox, resolv, podenv.hosts_file(pod, self.config.dns_domain))
        try:
            rec.pod_ip = await asyncio.to_thread(self.network.add, rec.uid, rec.netns, pod)
            rec.sandbox_error = None
        except Exception as e:  # CNI errors: pod stays Pending with the reason, nothing leaks
            log.warning("pod %s/%s: network setup failed: %s", rec.namespace, rec.name, e)
            await asyncio.to_thread(self.network.delete, rec.uid, rec.netns, pod)
            await asyncio.to_thread(rt.remove_sandbox)
            rt.forget()
            del self.runtimes[rec.uid]
            rec.sandbox_error = f"failed to set up pod network: {e}"
            delay = min(60.0, max(1.0, self.retry_at.get(rec.uid, (0.0, 0.5))[1] * 2))
            self.retry_at[rec.uid] = (time.monotonic() + delay, delay)
            return rt, rec.sandbox_error
        self.retry_at.pop(rec.uid, None)
        pod_with_ip = {**pod, "status": {**(pod.get("status") or {}), "podIP": rec.pod_ip}}
        await asyncio.to_thread(rt.write_hosts, podenv.hosts_file(pod_with_ip, self.config.dns_domain))
        envs = self.container_envs(pod_with_ip)
        if self.gatekeeper is not None:  # the pod's policy rules are in place before it serves
            await self.gatekeeper.admit(pod_with_ip)
        await asyncio.to_thread(rt.start_containers, pod_with_ip, envs)
        rec.save(self.paths.pods)
        self.netexec_reload()
        return rt, None

    def container_envs(self, pod: Obj) -> dict[str, dict[str, str]]:
        ns = pod["metadata"]["namespace"]
        services = list(self.informers.get("services").cache.values())
        cms = {k[1]: v for k, v in self.informers.get("configmaps").cache.items() if k[0] == ns}
        secrets = {k[1]: v for k, v in self.informers.get("secrets").cache.items() if k[0] == ns}
        out = {}
        for c in (pod.get("spec") or {}).get("containers") or []:
            try:
                out[c["name"]] = podenv.container_env(pod, c, services, cms, secrets)
            except podenv.EnvError as e:
                log.warning("pod %s: container %s: %s", pod["metadata"]["name"], c["name"], e)
                out[c["name"]] = podenv.service_links(services, ns)
        return out

    async def event(self, obj: Obj, reason: str, message: str, etype: str = "Warning") -> None:
        """Record a Kubernetes Event about ``obj`` (best effort, like the kubelet)."""
        m = obj["metadata"]
        now = rfc3339(time.time())
        ev = {"apiVersion": "v1", "kind": "Event",
              # named like the kubelet's events: <object>.<hex nanoseconds>
              "metadata": {"name": f"{m['name']}.{time.time_ns():x}",
                           "namespace": m.get("namespace", "default")},
              "involvedObject": {"apiVersion": "v1", "kind": obj.get("kind", "Pod"), "name": m["name"],
                                 "namespace": m.get("namespace", "default"), "uid": m.get("uid", "")},
              "reason": reason, "message": message, "type": etype, "count": 1,
              "source": {"component": "podnet-agent", "host": self.node.name},
              "firstTimestamp": now, "lastTimestamp": now}
        try:
            await self.store.create("events", ev)
        except (StoreError, OSError) as e:
            log.debug("event not recorded: %s", e)

    async def tend(self, rt: PodRuntime, pod: Obj) -> None:
        if rt.record.sandbox_error or rt.record.pod_ip is None:
            return
        changed = False
        if any(not c.builtin for c in rt.record.containers.values()):  # built-in ones need no care
            changed = await asyncio.to_thread(rt.supervise, pod, self.opts.restart_base)
        ready = await self.run_probes(rt, pod)
        if changed:
            rt.record.save(self.paths.pods)
        await self.write_status(rt, pod, ready)

    async def run_probes(self, rt: PodRuntime, pod: Obj) -> dict[str, bool]:
        ready: dict[str, bool] = {}
        now = time.monotonic()
        for c in (pod.get("spec") or {}).get("containers") or []:
            for kind in ("readiness", "liveness"):
                probe = c.get(f"{kind}Probe")
                if not probe:
                    continue
                key = (rt.record.uid, c["name"], kind)
                rec = rt.record.containers.get(c["name"])
                restarts = rec.restart_count if rec else 0
                tr = self.probes.get(key)
                if tr is None or tr.restart != restarts:  # a restarted container starts not ready
                    tr = self.probes[key] = ProbeTracker(probe, kind, restart=restarts)
                if tr.due(now):
                    ok = await run_once(probe, rt.record.pod_ip or "", rt.record.netns, c)
                    tr.record(ok, time.monotonic())
                    if kind == "liveness" and not tr.ok:
                        log.info("pod %s: container %s failed liveness, restarting",
                                 rt.record.name, c["name"])
                        await asyncio.to_thread(rt.kill_container, c["name"])
                        self.probes.pop(key, None)
                if kind == "readiness":
                    ready[c["name"]] = tr.ok
        return ready

    async def write_status(self, rt: PodRuntime, pod: Obj, ready: dict[str, bool] | None = None) -> None:
        if ready is None:
            ready = {k[1]: t.ok for k, t in self.probes.items()
                     if k[0] == rt.record.uid and k[2] == "readiness"}
            for c in (pod.get("spec") or {}).get("containers") or []:
                if c.get("readinessProbe") and c["name"] not in ready:
                    ready[c["name"]] = False
        status = pod_status(rt.view(ready))
        if same_status(pod.get("status"), status):
            return
        old = {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}
        for c in status.get("conditions", []):
            prev = old.get(c["type"])
            if prev and prev.get("status") == c["status"]:
                c["lastTransitionTime"] = prev.get("lastTransitionTime", c["lastTransitionTime"])
        try:
            meta = {**pod["metadata"], "resourceVersion": None}
            out = await self.store.update_status("pods", {**pod, "status": status, "metadata": meta})
        except (NotFound, Conflict):
            return
        # write-through: until its watch event arrives the cache would still hold the old
        # status, and the next pass would write the same status again (and again)
        self.informers.get("pods").observe(out)

    async def teardown(self, rt: PodRuntime, pod: Obj | None) -> None:
        grace = float((pod or {}).get("metadata", {}).get("deletionGracePeriodSeconds")
                      or ((pod or {}).get("spec") or {}).get("terminationGracePeriodSeconds", 30) or 0)
        await asyncio.to_thread(rt.stop_containers, min(grace, 30.0))
        self.netexec_reload()
        await asyncio.to_thread(self.network.delete, rt.record.uid, rt.record.netns, pod)
        await asyncio.to_thread(rt.remove_sandbox)
        rt.forget()
        self.runtimes.pop(rt.record.uid, None)
        self.tended.pop(rt.record.uid, None)
        for key in [k for k in self.probes if k[0] == rt.record.uid]:
            del self.probes[key]
        if pod is not None:
            await self._delete_object(pod)
        log.info("pod %s/%s removed", rt.record.namespace, rt.record.name)

    async def _delete_object(self, pod: Obj) -> None:
        with contextlib.suppress(NotFound, Conflict):
            cur = await self.store.get("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
            if cur["metadata"].get("uid") == pod["metadata"]["uid"]:
                await self.store.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                                        grace_period_seconds=0)  # type: ignore[call-arg]

    # -- built-in server process --
    def netexec_reload(self) -> None:
        """Ask the built-in server to re-read its pod specs (starting it if needed). Requests
        within a few ms become one signal: set-ups finish in bursts, and each signal makes the
        server rescan its directory."""
        if self._reload_pending:
            return
        self._reload_pending = True
        asyncio.get_running_loop().call_later(RELOAD_COALESCE, self._netexec_signal)

    def _netexec_signal(self) -> None:
        from podnet.agent import netexec_proc

        self._reload_pending = False
        netexec_proc.ensure(self.paths)

    async def run(self, stop: asyncio.Event) -> None:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.network.prepare()
        await nodestatus.register(self.store, self.config, self.node)
        self.load_records()
        self.netexec_reload()
        for inf in (self.informers.get(r) for r in ("services", "configmaps", "secrets")):
            inf.add_handler(lambda _ev: self.kick.set())
        self.informers.get("pods").add_handler(self._on_pod)
        self.informers.start()
        await self.informers.wait_synced()
        beat = asyncio.create_task(
            nodestatus.heartbeat(self.store, self.config, self.node, self.opts.heartbeat))
        proxy = asyncio.create_task(dataplane.run_proxy(self, stop)) if self.opts.proxy else None
        gate = asyncio.create_task(dataplane.run_gatekeeper(self, stop)) if self.opts.policy else None
        log.info("node agent %s ready (%d pods adopted)", self.node.name, len(self.runtimes))
        try:
            while not stop.is_set():
                self.kick.clear()  # events during the pass wake the next one
                await self.sync()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.kick.wait(), self.opts.resync)
                await asyncio.sleep(DEBOUNCE)  # a burst of events becomes one pass
        finally:
            if self.work:  # let set-ups and tear-downs in flight finish, as a pass did
                await asyncio.wait(set(self.work))
            beat.cancel()
            for task in (proxy, gate):
                if task is not None:
                    await asyncio.wait([task], timeout=5)
            await self.informers.stop()
            self.network.close()


def _needs_watching(rt: PodRuntime, pod: Obj) -> bool:
    """Whether a pod can change without its object changing: a program that may exit, or a
    probe to run. Pods served only by the built-in server are tended on changes alone."""
    if any(not c.builtin for c in rt.record.containers.values()):
        return True
    return any(c.get("readinessProbe") or c.get("livenessProbe") or c.get("startupProbe")
               for c in (pod.get("spec") or {}).get("containers") or [])


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""

