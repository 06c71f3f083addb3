"""Policy change -> enforced latency at 1000 pods: one node's gatekeeper, a real kernel table.

Usage (root: the table is written into a throwaway network namespace)::

    python bench/policy_enforce_bench.py [--pods 1000 --namespaces 20 --policies 200] [--rounds 5]

The cluster is policy_bench.py's generated one (random selectors, named ports,
endPort ranges, ipBlocks with except; 4 nodes, so node-1 holds a quarter of the
pods). It is loaded into an in-memory store; the gatekeeper of node-1 runs
against informers on that store, exactly as in the node agent, and applies to
``inet podnet-policy`` inside the namespace. Measured:

- the initial full sync (compile + one ``nft -f`` transaction);
- for each kind of change, ``--rounds`` times: the time from the API write to
  the transaction being in the kernel (informer event, 20 ms debounce, resolve
  the whole cluster, compile node-1's table, diff, apply), with the compile and
  apply parts and the size of the delta.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from policy_bench import generate

from podnet.api.config import ClusterConfig
from podnet.controllers.informer import InformerSet
from podnet.policy.gatekeeper import Gatekeeper, KernelBackend
from podnet.store.memory import MemoryStore


async def timed_change(gk: Gatekeeper, change: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    before = gk.generation
    t0 = time.monotonic()
    await change()
    while gk.generation == before:  # the informer delivers the event
        await asyncio.sleep(0.001)
    await asyncio.wait_for(gk.wait_applied(gk.generation), 60)
    last = gk.syncs[-1]
    return {"latency": last.applied_at - t0, "compile": last.compile_seconds,
            "apply": last.apply_seconds, "elements": last.elements, "mode": float(last.mode == "full")}


async def run(args: argparse.Namespace, netns: str) -> None:
    objs = generate(args.pods, args.namespaces, args.policies, args.seed)
    store = MemoryStore()
    for kind, resource in (("namespaces", "namespaces"), ("pods", "pods"), ("policies", "networkpolicies")):
        for o in objs[kind]:
            await store.create(resource, o)
    informers = InformerSet(store)
    for r in ("pods", "namespaces", "networkpolicies"):
        informers.get(r)
    informers.start()
    await informers.wait_synced()
    gk = Gatekeeper("node-1", "172.18.0.11", ClusterConfig(), informers, backend=KernelBackend(netns))
    stop = asyncio.Event()
    t0 = time.monotonic()
    task = asyncio.create_task(gk.run(stop))
    await asyncio.wait_for(gk.wait_applied(gk.generation), 120)
    first = gk.syncs[-1]
    if first.error:
        sys.exit(f"initial sync failed: {first.error}")
    table = gk.applied
    assert table is not None
    local = sum(1 for p in objs["pods"] if p["spec"]["nodeName"] == "node-1")
    print(f"{args.pods} pods ({local} on node-1), {args.namespaces} namespaces, {args.policies} policies")
    print(f"initial full sync: {time.monotonic() - t0:.3f} s (compile {first.compile_seconds:.3f} s, "
          f"apply {first.apply_seconds:.3f} s): {len(table.sets)} sets, {table.element_count} elements, "
          f"{table.rule_count} rules")
    local_pods = [p for p in objs["pods"] if p["spec"]["nodeName"] == "node-1"]
    results: dict[str, list[dict[str, float]]] = {}

    async def new_policy(i: int) -> None:
        ns = local_pods[i]["metadata"]["namespace"]
        await store.create("networkpolicies", {
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"bench-{i}", "namespace": ns},
            "spec": {"podSelector": {"matchLabels": {"app": local_pods[i]["metadata"]["labels"]["app"]}},
                     "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"env": "prod"}}}],
                                  "ports": [{"port": "http"}, {"port": 443}]}]}})

    async def relabel_pod(i: int) -> None:
        pod = await store.get("pods", local_pods[i]["metadata"]["namespace"], local_pods[i]["metadata"]["name"])
        pod["metadata"]["labels"]["app"] = f"app{(int(pod['metadata']['labels']['app'][3:]) + 1) % 12}"
        await store.update("pods", pod)

    async def relabel_namespace(i: int) -> None:
        ns = await store.get("namespaces", "", f"ns{i % args.namespaces}")
        ns["metadata"]["labels"]["env"] = "prod" if ns["metadata"]["labels"]["env"] != "prod" else "dev"
        await store.update("namespaces", ns)

    async def delete_policy(i: int) -> None:
        await store.delete("networkpolicies", local_pods[i]["metadata"]["namespace"], f"bench-{i}")

    changes = (("create a policy", new_policy), ("relabel a pod", relabel_pod),
               ("relabel a namespace", relabel_namespace), ("delete a policy", delete_policy))
    try:
        for i in range(args.rounds):
            for name, fn in changes:
                results.setdefault(name, []).append(await timed_change(gk, partial(fn, i)))
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        await informers.stop()
    print(f"{'change':22} {'latency median':>15} {'max':>7} {'compile':>8} {'apply':>7} {'elements':>9}")
    for name, rows in results.items():
        lat = [r["latency"] for r in rows]
        print(f"{name:22} {statistics.median(lat):14.3f}s {max(lat):6.3f}s "
              f"{statistics.median(r['compile'] for r in rows):7.3f}s "
              f"{statistics.median(r['apply'] for r in rows):6.3f}s "
              f"{statistics.median(r['elements'] for r in rows):9.0f}"
              f"{'  (full sync!)' if any(r['mode'] for r in rows) else ''}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--namespaces", type=int, default=20)
    ap.add_argument("--policies", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: the table is applied inside a throwaway network namespace")
    netns = f"pn-t{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        asyncio.run(run(args, netns))
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


if __name__ == "__main__":
    main()
