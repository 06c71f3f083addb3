"""API server bench: create throughput (SQLite vs memory) and watch latency.

Runs the API server in a child process (its own event loop, as in production)
on a unix socket in a temp dir, once per backend, and drives it with the typed
Client from this process:

1. create ``--objects`` ConfigMaps (default 10,000) with ``--concurrency``
   client tasks; objects/s per backend and the SQLite/memory ratio;
2. watch latency: ``--watchers`` concurrent watches (default 10) while
   ``--writes`` ConfigMaps are created one after another; per watcher the
   median and p90 of (event received - write acknowledged) in ms; negative
   values mean the event arrived before the writer had its HTTP answer.
   The send -> event delay is printed too.

    python bench/apiserver_bench.py [--objects N] [--backends memory,sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from podnet.apiserver.client import Client
from podnet.store.base import WatchEvent

NS = "bench"


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NS, "labels": {"bench": "yes"}},
            "data": {"key": "value", "name": name}}


# -- the server child --

async def _serve(socket_path: str, url: str) -> None:
    from podnet.apiserver.registry import Registry
    from podnet.apiserver.server import serve
    from podnet.store.open import open_store

    registry = Registry(open_store(url))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(registry, socket_path):
        print("ready", flush=True)
        await stop.wait()
    await registry.close()


class ServerProcess:
    def __init__(self, backend: str, tmp: Path) -> None:
        self.socket = tmp / f"{backend}.sock"
        url = "memory://" if backend == "memory" else f"sqlite://{tmp}/{backend}.db"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.socket), "--store", url],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"server for {backend} did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- measurements --

async def create_many(client: Client, n: int, concurrency: int) -> float:
    """Seconds to create ``n`` ConfigMaps with ``concurrency`` tasks."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await client.create("configmaps", configmap(f"cm-{i:06d}"))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def watch_latency(client: Client, watchers: int, writes: int
                        ) -> tuple[list[list[float]], list[list[float]]]:
    """Per watcher: ms from ack to event, and ms from send to event."""
    _, rv = await client.list("configmaps", NS)
    received: list[dict[str, float]] = [{} for _ in range(watchers)]
    done = [asyncio.Event() for _ in range(watchers)]

    async def watch(i: int) -> None:
        ev: WatchEvent
        async for ev in client.watch("configmaps", NS, rv):
            if ev.type == "ADDED":
                received[i][ev.object["metadata"]["name"]] = time.perf_counter()
                if len(received[i]) == writes:
                    done[i].set()
                    return

    tasks = [asyncio.create_task(watch(i)) for i in range(watchers)]
    await asyncio.sleep(0.3)  # let every watch connect
    sent: dict[str, float] = {}
    acked: dict[str, float] = {}
    for j in range(writes):
        name = f"lat-{j:05d}"
        sent[name] = time.perf_counter()
        await client.create("configmaps", configmap(name))
        acked[name] = time.perf_counter()
        await asyncio.sleep(0.002)
    await asyncio.wait_for(asyncio.gather(*(d.wait() for d in done)), 30)
    for t in tasks:
        t.cancel()
    from_ack = [[(r[k] - acked[k]) * 1000 for k in acked] for r in received]
    from_send = [[(r[k] - sent[k]) * 1000 for k in sent] for r in received]
    return from_ack, from_send


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_backend(backend: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    server = ServerProcess(backend, tmp)
    try:
        async with Client(socket_path=server.socket) as client:
            await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": NS}})
            seconds = await create_many(client, args.objects, args.concurrency)
            items, _ = await client.list("configmaps", NS)
            assert len(items) == args.objects, len(items)
            lat_ack, lat_send = await watch_latency(client, args.watchers, args.writes)
        return {"seconds": seconds, "rate": args.objects / seconds, "ack": lat_ack,
                "send": lat_send}
    finally:
        server.stop()


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="pnbench-", dir="/tmp"))
    results: dict[str, dict[str, Any]] = {}
    try:
        for backend in args.backends.split(","):
            results[backend] = await bench_backend(backend, tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"API server bench: {args.objects} ConfigMaps created over the unix socket by "
          f"{args.concurrency} client tasks (server in its own process, {os.cpu_count()} CPUs)")
    for backend, r in results.items():
        print(f"  {backend:7s} {r['rate']:8.0f} objects/s  ({r['seconds']:.2f} s)")
    if "memory" in results and "sqlite" in results:
        ratio = results["sqlite"]["rate"] / results["memory"]["rate"]
        print(f"  ratio sqlite/memory: {ratio:.2f}")
    print(f"\nwatch latency: {args.watchers} watchers, {args.writes} sequential creates; "
          "ms from write acknowledged (and from request sent) to event received")
    for backend, r in results.items():
        print(f"  {backend}:")
        for i, (ack, send) in enumerate(zip(r["ack"], r["send"], strict=True)):
            print(f"    watcher {i:2d}: median {statistics.median(ack):6.2f}  "
                  f"p90 {p(ack, 0.9):6.2f}   (from send: median {statistics.median(send):6.2f}"
                  f"  p90 {p(send, 0.9):6.2f})")
        every = [x for w in r["ack"] for x in w]
        print(f"    all      : median {statistics.median(every):6.2f}  p90 {p(every, 0.9):6.2f}")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--watchers", type=int, default=10)
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--backends", default="memory,sqlite")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    return ap.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve:
        asyncio.run(_serve(arguments.serve, arguments.store))
    else:
        asyncio.run(main(arguments))
