"""Controllers bench: time for the live control plane to converge N pods behind M Services.

    python bench/controllers_bench.py [--pods 1000] [--services 100] [--nodes 5]
                                      [--backends memory,sqlite[,http]]

The workload (default): 5 Ready Nodes (``spec.podCIDR`` node-i's /24,
``status.allocatable.pods`` = N), M Services each selecting the pods of its own
Deployment, M Deployments with N/M replicas (1,000 pods, 100 Services).

Live runs, one per backend, each on a fresh store, with everything already
running when the objects are applied (like a cluster that is up):

* ``memory`` / ``sqlite``: ``ControllerManager`` (all controllers) over the
  admission ``Registry`` over ``open_store('memory://' | 'sqlite:///tmp/...')``
  in this process; the objects are created through the Registry;
* ``http``: the real control-plane process (``serve_controlplane``: API server +
  controllers over SQLite) in a child process; objects are created, the kubelet
  and the progress watcher work, through the HTTP ``Client`` on its unix socket.

A small live kubelet stands in for the node agents: ``OfflineKubelet`` (phase
Running, Ready, podIP from the node's podCIDR) driven by its own informers,
re-run (debounced) whenever a pod or node changes. Progress is seen by an
independent watcher; each phase is the time from the first create until *all*
pods are created / scheduled (``spec.nodeName``) / Running+Ready with a podIP,
and EndpointSlices list all N pods as ready endpoints. Nodes get a 1 h heartbeat
grace: no node agent heartbeats here.

Reference, measured in the same run: the offline pipeline on the same objects
(``check_documents`` + ``podnet.offline.build``: validate, admit into a memory
store, converge controllers and offline kubelet round by round); printed as
live/offline ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from podnet.api.config import ClusterConfig
from podnet.api.errors import check_documents
from podnet.api.kinds import Obj, name_of, rfc3339
from podnet.api.loader import Document
from podnet.apiserver.client import Client
from podnet.apiserver.registry import Registry
from podnet.controllers.base import ControllerOptions
from podnet.controllers.informer import Informer, InformerSet
from podnet.controllers.manager import ControllerManager
from podnet.controllers.podutil import is_ready, pod_ip
from podnet.offline import build
from podnet.offline_kubelet import OfflineKubelet
from podnet.store.base import Store, StoreError, WatchEvent
from podnet.store.open import open_store

NS = "bench"
NODE_GRACE = 3600.0
PHASES = ("applied", "created", "scheduled", "running", "endpoints")


# -- the workload --

def workload(pods: int, services: int, nodes: int, config: ClusterConfig) -> list[Obj]:
    now = rfc3339(time.time())
    objs: list[Obj] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}]
    for nc in config.with_nodes(nodes).nodes:
        objs.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": nc.name, "labels": {"kubernetes.io/hostname": nc.name}},
            "spec": {"podCIDR": nc.pod_cidr, "podCIDRs": [nc.pod_cidr]},
            "status": {"addresses": [{"type": "InternalIP", "address": nc.ip}],
                       "capacity": {"pods": str(pods)}, "allocatable": {"pods": str(pods)},
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "lastHeartbeatTime": now, "lastTransitionTime": now}]}})
    for i in range(services):
        app = f"app-{i:03d}"
        replicas = pods // services + (1 if i < pods % services else 0)
        objs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "namespace": NS},
                     "spec": {"selector": {"app": app},
                              "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
        objs.append({"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": {"name": app, "namespace": NS},
                     "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                              "template": {"metadata": {"labels": {"app": app}}, "spec": {
                                  "containers": [{"name": "web", "image": "nginx:1.25",
                                                  "ports": [{"name": "http",
                                                             "containerPort": 8080}]}]}}}})
    return objs


PLURAL = {"Namespace": "namespaces", "Node": "nodes", "Service": "services",
          "Deployment": "deployments"}


async def apply(store: Store, objs: list[Obj]) -> None:
    """Create every object (and the Nodes' status, as their kubelets would post it)."""
    for obj in objs:
        out = await store.create(PLURAL[obj["kind"]], copy.deepcopy(obj))
        if obj["kind"] == "Node":
            await store.update_status("nodes", {**out, "status": obj["status"]})


# -- progress, seen by an independent watcher --

class Progress:
    """Records when each phase is first complete, from its own pod and slice informers."""

    def __init__(self, store: Store, total: int) -> None:
        self.total = total
        self.t0 = 0.0
        self.marks: dict[str, float] = {}
        self.done = asyncio.Event()
        self.pods = Informer(store, "pods", NS)
        self.slices = Informer(store, "endpointslices", NS)
        self.pod_state: dict[str, tuple[bool, bool]] = {}  # name -> (scheduled, running)
        self.ready: dict[str, set[str]] = {}  # slice -> ready pod names
        self.pods.add_handler(self._on_pod)
        self.slices.add_handler(self._on_slice)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for inf in (self.pods, self.slices):
            self._tasks.append(asyncio.create_task(inf.run()))
            await inf.wait_synced()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def mark(self, phase: str) -> None:
        if self.t0 and phase not in self.marks:
            self.marks[phase] = time.perf_counter() - self.t0
            if phase == "endpoints":
                self.done.set()

    def _on_pod(self, ev: WatchEvent) -> None:
        name = name_of(ev.object)
        if ev.type == "DELETED":
            self.pod_state.pop(name, None)
        else:
            running = (ev.object.get("status") or {}).get("phase") == "Running"
            self.pod_state[name] = (bool((ev.object.get("spec") or {}).get("nodeName")),
                                    running and is_ready(ev.object) and bool(pod_ip(ev.object)))
        states = self.pod_state.values()
        if len(self.pod_state) >= self.total:
            self.mark("created")
            if sum(s for s, _ in states) >= self.total:
                self.mark("scheduled")
            if sum(r for _, r in states) >= self.total:
                self.mark("running")

    def _on_slice(self, ev: WatchEvent) -> None:
        name = name_of(ev.object)
        if ev.type == "DELETED":
            self.ready.pop(name, None)
        else:
            self.ready[name] = {str((e.get("targetRef") or {}).get("name"))
                                for e in ev.object.get("endpoints") or []
                                if (e.get("conditions") or {}).get("ready")}
        if (sum(map(len, self.ready.values())) >= self.total
                and len(set().union(*self.ready.values())) >= self.total):
            self.mark("endpoints")


# -- a live kubelet for every node --

class LiveKubelet:
    """``OfflineKubelet`` run on its own informers whenever a pod or node changes."""

    def __init__(self, store: Store) -> None:
        self.informers = InformerSet(store)
        self.kubelet = OfflineKubelet(store, informers=self.informers)
        self.dirty = asyncio.Event()
        self.writes = self.errors = 0
        for r in ("pods", "nodes"):
            self.informers.get(r).add_handler(lambda _ev: self.dirty.set())
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.informers.start()
        await self.informers.wait_synced()
        self.task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await self.dirty.wait()
            await asyncio.sleep(0.03)  # debounce, as the controllers do
            self.dirty.clear()
            try:
                self.writes += await self.kubelet.sync()
            except Exception as e:  # a conflict (someone wrote the pod meanwhile), a timeout
                self.errors += 1
                print(f"kubelet: {type(e).__name__}: {e}; again", file=sys.stderr)
                await asyncio.sleep(0.1)
                self.dirty.set()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.informers.stop()


# -- one live run --

async def converge_live(writer: Store, watcher: Store, kubelet_store: Store, objs: list[Obj],
                        total: int, timeout: float) -> dict[str, float]:
    progress, kubelet = Progress(watcher, total), LiveKubelet(kubelet_store)
    await progress.start()
    await kubelet.start()
    try:
        progress.t0 = time.perf_counter()
        await apply(writer, objs)
        progress.mark("applied")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(progress.done.wait(), timeout)
        return {**progress.marks, "kubelet writes": kubelet.writes}
    finally:
        await kubelet.stop()
        await progress.stop()


async def run_in_process(url: str, objs: list[Obj], total: int, config: ClusterConfig,
                         timeout: float) -> dict[str, float]:
    registry = Registry(open_store(url), config)
    manager = ControllerManager(registry, config,
                                options=ControllerOptions(node_grace_seconds=NODE_GRACE))
    try:
        await manager.start()
        marks = await converge_live(registry, registry, registry, objs, total, timeout)
        return {**marks, "controller writes": sum(c.writes for c in manager.controllers)}
    finally:
        await manager.stop()
        await registry.close()


async def run_over_http(tmp: Path, objs: list[Obj], total: int, timeout: float
                        ) -> dict[str, float]:
    sock = tmp / "apiserver.sock"
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(sock),
                              "--store", f"sqlite://{tmp}/http.db"])
    writer, watcher, agent = Client(socket_path=sock), Client(socket_path=sock), Client(socket_path=sock)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError, StoreError):
                await writer.list("namespaces")
                break
            await asyncio.sleep(0.05)
        return await converge_live(writer, watcher, agent, objs, total, timeout)
    finally:
        for c in (writer, watcher, agent):
            await c.close()
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def _serve(sock: str, url: str) -> None:
    from podnet.cluster.controlplane import serve_controlplane

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await serve_controlplane(ClusterConfig(), url, Path(sock), node_grace=NODE_GRACE, stop=stop)


# -- the reference --

async def offline(objs: list[Obj], config: ClusterConfig, total: int) -> float:
    start = time.perf_counter()
    docs = [Document(copy.deepcopy(o), "bench", i, 0) for i, o in enumerate(objs)]
    state = await build(check_documents(docs), config)
    seconds = time.perf_counter() - start
    running = [p for p in state.pods if pod_ip(p) and is_ready(p)]
    endpoints = sum(len(s.get("endpoints") or []) for s in state.endpoint_slices
                    if (s.get("metadata") or {}).get("namespace") == NS)
    assert len(running) == total and endpoints == total, (len(running), endpoints)
    return seconds


async def main(args: argparse.Namespace) -> None:
    nodes = max(args.nodes, math.ceil(args.pods / 250))  # a node's /24 holds 253 pods
    config = ClusterConfig()
    objs = workload(args.pods, args.services, nodes, config)
    ref = await offline(objs, config, args.pods)
    tmp = Path(tempfile.mkdtemp(prefix="pnbench-ctl-", dir="/tmp"))
    results: dict[str, dict[str, float]] = {}
    try:
        for backend in args.backends.split(","):
            if backend == "http":
                results[backend] = await run_over_http(tmp, objs, args.pods, args.timeout)
            else:
                url = "memory://" if backend == "memory" else f"sqlite://{tmp}/{backend}.db"
                results[backend] = await run_in_process(url, objs, args.pods, config, args.timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"Controllers bench: {args.pods} pods from {args.services} Deployments behind "
          f"{args.services} Services on {nodes} nodes ({os.cpu_count()} CPUs, "
          f"load average {load:.2f})")
    print(f"  reference: offline pipeline (validate + admit + converge) {ref:.2f} s")
    print("  live, seconds from the first create until all ... (ratio live/offline)")
    print(f"  {'backend':8s}" + "".join(f"{p:>16s}" for p in PHASES))
    for backend, marks in results.items():
        cells = [f"{marks[p]:6.2f} ({marks[p] / ref:5.2f}x)" if p in marks else "     not reached"
                 for p in PHASES]
        print(f"  {backend:8s}" + "".join(f"{c:>16s}" for c in cells))
    for backend, marks in results.items():
        writes = {k: int(v) for k, v in marks.items() if k.endswith("writes")}
        print(f"  {backend}: " + ", ".join(f"{k} {v}" for k, v in writes.items())
              + " (controllers run in the server process for http)" * (backend == "http"))
    if any(p not in m for m in results.values() for p in PHASES):
        sys.exit(f"some run did not converge within {args.timeout:.0f} s")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--backends", default="memory,sqlite",
                    help="any of memory,sqlite,http (http: the control-plane process)")
    ap.add_argument("--timeout", type=float, default=120.0, help="per live run")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    return ap.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve:
        asyncio.run(_serve(arguments.serve, arguments.store))
    else:
        asyncio.run(main(arguments))
