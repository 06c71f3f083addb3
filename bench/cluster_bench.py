"""Cluster bench (root): ``podnet up``, N pods to Ready with memory per pod, pod-to-pod iperf3.

    sudo python3 bench/cluster_bench.py [--parts up,iperf,pods] [--pods 1000] [--pod-nodes 4]
                                        [--deployments 10] [--iperf-seconds 3] [--iperf-rounds 3]
                                        [--no-refs] [--json FILE]

Every cluster gets a unique name and a private ``PODNET_STATE_ROOT`` in a temp
dir and is always torn down (``podnet down``). Each part measures its reference
in the same run (see ``cluster_refs.py``) and prints ratios:

* ``up``: wall time of ``podnet up --nodes 3`` (flat, then vxlan; CLI start to
  return, i.e. every node Ready) with the time of each progress line; reference:
  the same namespaces, veths, addresses and routes made by plain ``ip``. Goal < 10 s.
* ``iperf``: TCP throughput (iperf3, one stream, ``ip netns exec`` in the pods'
  namespaces) pod->pod same node and cross node, in the flat and in the vxlan
  cluster of ``up``; reference: a bare veth pair between two plain namespaces;
  rounds interleave every case, ratios are of medians.
* ``pods``: a ``--pod-nodes`` flat cluster; ``--deployments`` Deployments (one
  Service each) of the built-in server, ``--pods`` pods in all, applied at once;
  time from the first create until all pods exist, are bound, are Running+Ready with
  a podIP, and the EndpointSlices list them all as ready (as this bench's own watch
  sees it, plus the server's view from creationTimestamp / Ready lastTransitionTime,
  free of watch lag); CPU seconds used meanwhile by every podnet process of the
  cluster and its reaped children (CNI plugins, ``ip``), a load-independent cost;
  then memory (RSS and PSS of those processes; MemAvailable drop) per pod and
  ``podnet down`` time. References: ``ip`` creating as many pod namespaces with bridged veths
  (kernel floor, and its MemAvailable drop = kernel memory per pod), and the
  offline pipeline on the same manifests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from cluster_refs import Refs, iperf, meminfo

from podnet.agent.paths import pod_netns_name
from podnet.api.kinds import Obj, name_of
from podnet.controllers.podutil import is_ready, parse_time, pod_ip

NS = "bench"
IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.47"  # no command: the built-in server
RESULTS: dict[str, Any] = {}


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Cluster:
    def __init__(self, root: Path, prefix: str = "b") -> None:
        self.name = f"{prefix}{secrets.token_hex(3)}"
        self.env = dict(os.environ, PODNET_STATE_ROOT=str(root), PODNET_CLUSTER=self.name)
        self.is_up = False

    def podnet(self, *args: str, stdin: str | None = None, timeout: float = 300) -> str:
        r = subprocess.run([sys.executable, "-m", "podnet.cli.main", *args], env=self.env, input=stdin,
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"podnet {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def up(self, *args: str) -> tuple[float, list[tuple[float, str]]]:
        """Run ``podnet up``; returns wall seconds and (seconds, line) for every output line."""
        self.is_up = True
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "podnet.cli.main", "up", *args], env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = [(time.perf_counter() - t0, line.rstrip()) for line in p.stdout or []]
        if p.wait() != 0:
            raise RuntimeError("podnet up failed:\n" + "\n".join(s for _, s in lines))
        return time.perf_counter() - t0, lines

    def down(self) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "podnet.cli.main", "down"], env=self.env,
                       capture_output=True, timeout=600)
        self.is_up = False
        return time.perf_counter() - t0

    def pids(self) -> list[int]:
        """Every process of this cluster: argv names the cluster or a path in its state dir."""
        root = self.env["PODNET_STATE_ROOT"]
        out = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                argv = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            args = [a.decode(errors="replace") for a in argv]
            if "podnet" in " ".join(args) and (self.name in args or any(a.startswith(root) for a in args)):
                out.append(int(d.name))
        return out + descendants(out)


def descendants(pids: list[int]) -> list[int]:
    """Live descendants of ``pids`` not in it (e.g. an agent's CNI zygote)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: set[int] = set()
    frontier = set(pids)
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found - set(pids)
        found |= frontier
    return sorted(found)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime + stime of the process, of its reaped children: CNI plugins, ip, ...)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck, (int(fields[13]) + int(fields[14])) / tck


def cpu_by_kind(pids: list[int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in pids:
        k = proc_kind(p)
        own, children = cpu_seconds(p)
        out[k] = out.get(k, 0.0) + own
        if children:
            out[f"{k} children"] = out.get(f"{k} children", 0.0) + children
    return out


def smaps(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def proc_kind(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "gone"
    if "controlplane" in argv:
        return "controlplane"
    if any("podnet.cni.zygote" in a for a in argv):
        return "cni zygote"
    mods = [a for a in argv if a.startswith("podnet.")]
    return mods[0].split(".")[-2 if mods[0].endswith(".main") else -1] if mods else argv[0]


# -- up --

def part_up(root: Path, refs: Refs, keep: dict[str, Cluster]) -> None:
    print(f"\n== podnet up --nodes 3 (goal < 10 s; load {load()})")
    for mode in ("flat", "vxlan"):
        ref = refs.ip_topology(3, mode)
        c = Cluster(root)
        keep[mode] = c
        wall, lines = c.up("--nodes", "3", "--network", mode)
        RESULTS[f"up_{mode}"] = {"wall": wall, "ip_reference": ref, "ratio": wall / ref}
        print(f"{mode}: podnet up {wall:.2f} s, ip reference {ref:.3f} s, ratio {wall / ref:.0f}x; "
              f"goal < 10 s: {'met' if wall < 10 else 'NOT met'}")
        for t, line in lines:
            print(f"   {t:6.2f}  {line[:100]}")
    refs.cleanup()


# -- iperf --

def pinned_pod(name: str, node: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                     "containers": [{"name": "web", "image": IMAGE, "ports": [{"containerPort": 8080}]}]}}


def wait_pods(c: Cluster, names: list[str], timeout: float = 120) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = json.loads(c.podnet("get", "pods", "-o", "json"))["items"]
        ips = {name_of(p): pod_ip(p) for p in items if is_ready(p) and pod_ip(p)}
        if all(n in ips for n in names):
            return {n: str(ips[n]) for n in names}
        time.sleep(0.5)
    raise RuntimeError(f"pods {names} not Ready after {timeout} s")


def part_iperf(refs: Refs, clusters: dict[str, Cluster], seconds: float, rounds: int) -> None:
    print(f"\n== iperf3 TCP pod->pod, {seconds:.0f} s per run, {rounds} rounds (load {load()})")
    a, b, addr = refs.bare_veth()
    pairs: list[tuple[str, str, str, str]] = []  # (what, client ns, server ns, server ip)
    for mode, c in clusters.items():
        pods = [pinned_pod("ipa", "node-1"), pinned_pod("ipb", "node-1"), pinned_pod("ipc", "node-2")]
        c.podnet("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
        ips = wait_pods(c, ["ipa", "ipb", "ipc"])
        ns = {n: pod_netns_name(c.name, "default", n) for n in ips}
        pairs.append((f"same node ({mode})", ns["ipa"], ns["ipb"], ips["ipb"]))
        pairs.append((f"cross node {mode}", ns["ipa"], ns["ipc"], ips["ipc"]))
    veth: list[float] = []
    got: dict[str, list[float]] = {what: [] for what, *_ in pairs}
    for _ in range(rounds):  # interleaved, so every case sees the same load
        veth.append(iperf(a, b, addr, seconds))
        for what, cns, sns, ip in pairs:
            got[what].append(iperf(cns, sns, ip, seconds))
    ref = statistics.median(veth)
    print(f"bare veth pair: {', '.join(f'{v:.1f}' for v in veth)} Gbit/s (median {ref:.1f})")
    out: dict[str, Any] = {"veth": veth}
    for what, vals in got.items():
        med = statistics.median(vals)
        print(f"{what:24s} {', '.join(f'{v:5.1f}' for v in vals)} Gbit/s  median {med:5.1f}  "
              f"ratio {med / ref:.2f}")
        out[what] = {"gbps": vals, "ratio": med / ref}
    RESULTS["iperf"] = out
    refs.cleanup()


# -- pods --

def workload(pods: int, deployments: int) -> list[Obj]:
    objs: list[Obj] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}]
    for i in range(deployments):
        app = f"web-{i:02d}"
        replicas = pods // deployments + (1 if i < pods % deployments else 0)
        objs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "namespace": NS},
                     "spec": {"selector": {"app": app},
                              "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
        objs.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app, "namespace": NS},
                     "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                              "template": {"metadata": {"labels": {"app": app}}, "spec": {
                                  "containers": [{"name": "web", "image": IMAGE,
                                                  "ports": [{"name": "http", "containerPort": 8080}]}]}}}})
    return objs


async def converge(c: Cluster, objs: list[Obj], total: int, timeout: float) -> dict[str, float]:
    """Apply ``objs``; seconds from the first create to each phase (seen by its own informers)."""
    from podnet.api.config import apiserver_socket
    from podnet.apiserver.apply import apply_all
    from podnet.apiserver.client import Client
    from podnet.controllers.informer import Informer

    marks: dict[str, float] = {}
    t0 = 0.0
    pod_state: dict[str, tuple[bool, bool]] = {}
    ready: dict[str, set[str]] = {}
    done = asyncio.Event()

    def mark(phase: str) -> None:
        if t0 and phase not in marks:
            marks[phase] = time.perf_counter() - t0
            print(f"   {marks[phase]:6.2f}  {phase}", flush=True)
            if "running" in marks and "endpoints" in marks:
                done.set()

    seen = {"pods": 0, "endpointslices": 0}  # watch events handled
    counts = [0, 0]  # pods bound, pods running+ready: kept as events come (this watcher's own
    # CPU adds to its lag behind the server, so no O(pods) work per event)

    def on_pod(ev: Any) -> None:
        seen["pods"] += 1
        o = ev.object
        old = pod_state.pop(name_of(o), (False, False))
        if ev.type != "DELETED":
            running = (o.get("status") or {}).get("phase") == "Running"
            pod_state[name_of(o)] = (bool((o.get("spec") or {}).get("nodeName")),
                                     running and is_ready(o) and bool(pod_ip(o)))
        new = pod_state.get(name_of(o), (False, False))
        for i in (0, 1):
            counts[i] += int(new[i]) - int(old[i])
        if len(pod_state) >= total:
            mark("created")
            if counts[0] >= total:
                mark("scheduled")
            if counts[1] >= total:
                mark("running")

    def on_slice(ev: Any) -> None:
        seen["endpointslices"] += 1
        o = ev.object
        if ev.type == "DELETED":
            ready.pop(name_of(o), None)
        else:
            ready[name_of(o)] = {str((e.get("targetRef") or {}).get("name")) for e in o.get("endpoints") or []
                                 if (e.get("conditions") or {}).get("ready")}
        if len(set().union(*ready.values())) >= total:
            mark("endpoints")

    async with Client(socket_path=str(apiserver_socket(c.name)), timeout=60) as client:
        infs = [Informer(client, "pods", NS), Informer(client, "endpointslices", NS)]
        infs[0].add_handler(on_pod)
        infs[1].add_handler(on_slice)
        tasks = [asyncio.create_task(i.run()) for i in infs]
        for i in infs:
            await i.wait_synced()
        t0, t0_wall = time.perf_counter(), time.time()
        await apply_all(client, objs)
        mark("applied")

        async def report() -> None:
            while True:
                await asyncio.sleep(5)
                print(f"   {time.perf_counter() - t0:6.2f}  ... {len(pod_state)} pods, {counts[1]} running+ready "
                      f"(load {load()})", flush=True)

        rep = asyncio.create_task(report())
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            print(f"   timed out after {timeout:.0f} s")
        rep.cancel()
        print(f"   watch events this watcher handled: {seen['pods']} pod, "
              f"{seen['endpointslices']} EndpointSlice", flush=True)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, rep, return_exceptions=True)
        # the server's own view (1 s resolution), free of this watcher's lag
        items, _ = await client.list("pods", NS)
        created_at = [parse_time(p["metadata"].get("creationTimestamp")) for p in items]
        ready_at = [parse_time(c.get("lastTransitionTime")) for p in items
                    for c in (p.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
        for what, ts in (("server: last created", created_at), ("server: last Ready", ready_at)):
            known = [t for t in ts if t is not None]
            if known:
                marks[what] = max(known) - t0_wall
    return marks


def busy_fraction(seconds: float = 1.0) -> float:
    """How busy the CPUs were over the next ``seconds`` (from /proc/stat: not idle, not iowait)."""
    def sample() -> list[int]:
        return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    a = sample()
    time.sleep(seconds)
    d = [y - x for x, y in zip(a, sample(), strict=True)]
    total = sum(d) or 1
    return 1.0 - (d[3] + d[4]) / total


def wait_quiet(limit: float = 60.0, threshold: float = 0.15) -> float:
    """Wait (at most ``limit`` s) until the machine is nearly idle, e.g. after the kernel has
    freed a thousand namespaces deleted before; returns the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit and busy_fraction() > threshold:
        pass
    return time.perf_counter() - t0


def pod_refs(refs: Refs, objs: list[Obj], pods: int, nodes: int) -> tuple[float, float, float]:
    time.sleep(3)  # namespaces deleted before are freed asynchronously
    m0 = meminfo()
    ref = refs.ip_pods(pods, nodes)
    m1 = meminfo()
    kernel_kb = (m0["MemAvailable"] - m1["MemAvailable"]) / pods
    refs.cleanup()
    offline = offline_seconds(objs, nodes)
    print(f"reference: ip creates {pods} pod netns+veth pairs in {ref:.2f} s "
          f"(MemAvailable -{kernel_kb:.0f} kB per pod); offline pipeline {offline:.2f} s")
    return ref, offline, kernel_kb


def offline_seconds(objs: list[Obj], nodes: int) -> float:
    from podnet.api.config import ClusterConfig
    from podnet.offline import build

    t0 = time.perf_counter()
    asyncio.run(build(objs, ClusterConfig().with_nodes(nodes)))
    return time.perf_counter() - t0


def part_pods(root: Path, refs: Refs, pods: int, nodes: int, deployments: int, timeout: float,
              with_refs: bool = True) -> None:
    print(f"\n== {pods} pods on {nodes} nodes to Ready (goal < 30 s; load {load()})")
    objs = workload(pods, deployments)
    ref, offline, kernel_kb = float("nan"), float("nan"), float("nan")
    if with_refs:
        ref, offline, kernel_kb = pod_refs(refs, objs, pods, nodes)
    c = Cluster(root)  # namespaces deleted before are freed asynchronously
    try:
        wall, _ = c.up("--nodes", str(nodes), "--network", "flat")
        print(f"cluster {c.name} up in {wall:.1f} s; applying {deployments} Deployments "
              f"(+{deployments} Services), {pods} pods")
        time.sleep(2)
        print(f"waited {wait_quiet():.1f} s for the machine to be quiet (CPU < 15% busy)")
        before = meminfo()
        base = {p: smaps(p) for p in c.pids()}
        cpu0 = cpu_by_kind(list(base))
        marks = asyncio.run(converge(c, objs, pods, timeout))
        time.sleep(2)
        after = meminfo()
        procs = {p: smaps(p) for p in c.pids()}
        cpu1 = cpu_by_kind(list(procs))
        cpu = {k: v - cpu0.get(k, 0.0) for k, v in cpu1.items() if v - cpu0.get(k, 0.0) >= 0.05}
        print(f"CPU used from apply to done: {sum(cpu.values()):.1f} s = "
              f"{1000 * sum(cpu.values()) / pods:.0f} ms per pod (" +
              ", ".join(f"{k} {v:.1f} s" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])) + ")")
        kinds = sorted(proc_kind(p) for p in procs)
        print("processes: " + ", ".join(f"{k} x{kinds.count(k)}" for k in sorted(set(kinds))))
        rss, pss = sum(r for r, _ in procs.values()), sum(s for _, s in procs.values())
        base_rss = sum(r for r, _ in base.values())
        drop = (before["MemAvailable"] - after["MemAvailable"]) / pods
        print(f"load {load()}")
        for phase, t in marks.items():
            ratios = f"  ratio to ip {t / ref:5.1f}x, to offline {t / offline:5.1f}x" if with_refs else ""
            print(f"{phase:22s} {t:7.2f} s{ratios}")
        ok = marks.get("running", 1e9)
        print(f"goal < 30 s to Ready: {'met' if ok < 30 else 'NOT met'}")
        print(f"memory: {len(procs)} podnet processes RSS {rss / 1024:.0f} MiB (idle cluster "
              f"{base_rss / 1024:.0f} MiB), PSS {pss / 1024:.0f} MiB -> {rss / pods:.0f} kB RSS, "
              f"{(rss - base_rss) / pods:.0f} kB RSS growth, {pss / pods:.0f} kB PSS per pod; "
              f"MemAvailable -{drop:.0f} kB per pod (ip-only reference: -{kernel_kb:.0f} kB)")
        RESULTS["pods"] = {"marks": marks, "ip_reference": ref, "offline": offline, "rss_kb": rss,
                           "pss_kb": pss, "idle_rss_kb": base_rss, "mem_available_drop_kb_per_pod": drop,
                           "kernel_ref_kb_per_pod": kernel_kb, "processes": len(procs),
                           "cpu_seconds": cpu}
    finally:
        d = c.down()
        print(f"podnet down with {pods} pods: {d:.1f} s")
        RESULTS.setdefault("pods", {})["down"] = d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="up,iperf,pods")
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--pod-nodes", type=int, default=4)
    ap.add_argument("--deployments", type=int, default=10)
    ap.add_argument("--iperf-seconds", type=float, default=3)
    ap.add_argument("--iperf-rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--no-refs", action="store_true", help="pods: skip the ip and offline references")
    ap.add_argument("--json")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root")
    parts = args.parts.split(",")
    refs = Refs()
    clusters: dict[str, Cluster] = {}
    with tempfile.TemporaryDirectory(prefix="podnet-bench-") as tmp:
        os.environ["PODNET_STATE_ROOT"] = tmp
        print(f"cluster bench, load {load()}")
        try:
            if "up" in parts or "iperf" in parts:
                part_up(Path(tmp), refs, clusters)
            if "iperf" in parts:
                part_iperf(refs, clusters, args.iperf_seconds, args.iperf_rounds)
            for c in clusters.values():
                print(f"podnet down ({c.name}): {c.down():.1f} s")
            if "pods" in parts:
                part_pods(Path(tmp), refs, args.pods, args.pod_nodes, args.deployments, args.timeout,
                           not args.no_refs)
        finally:
            for c in clusters.values():
                if c.is_up:
                    c.down()
            refs.cleanup()
        print(f"done, load {load()}")
    if args.json:
        Path(args.json).write_text(json.dumps(RESULTS, indent=2))


if __name__ == "__main__":
    main()
