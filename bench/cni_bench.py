"""CNI ADD/DEL latency: podnet-bridge + podnet-host-local vs the reference bridge + host-local.

Method: one throwaway node namespace and one pod namespace; the bench thread
enters the node namespace (setns) and runs each plugin as its own process, the
way a runtime does (CNI_* environment, config on stdin), timing the process
from spawn to exit. For each implementation, CYCLES times: ADD (timed), DEL
(timed), on the same pod namespace with a fresh container id, alternating the
implementations cycle by cycle so both see the same machine load. Same config
for both: isGateway, one /24 range, one route, cniVersion 1.0.0 (the newest
the reference plugins speak). Prints median and p90 per verb and the ratio
podnet / reference, and the load average before and after the run (this is
a shared machine). A third row, "podnet (zygote)", runs podnet's plugins the way a
node agent does: forked from a pre-imported zygote (podnet.cni.zygote) with the same
env and stdin; its CPU is the zygote's children's total over the run per call (the
zygote reaps them). Needs root. Usage:
python bench/cni_bench.py [--cycles 50] [--json F] [--podnet-dir DIR] [--no-zygote]
(``--podnet-dir``: another directory of podnet-bridge/podnet-host-local to
time instead of ``cni_path()``, e.g. launchers of an older checkout.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from podnet.cni.paths import cni_path
from podnet.cni.zygote import Zygote
from podnet.kernel import netns

REFERENCE = "/usr/lib/cni"
IMPLS = {"podnet": ("podnet-bridge", "podnet-host-local", None),
         "reference": ("bridge", "host-local", REFERENCE)}


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(exe: str, command: str, config: dict[str, object], env: dict[str, str]
        ) -> tuple[float, float]:
    """(wall ms, CPU ms) of one call; CPU counts the plugin and the IPAM plugin it waited for,
    and is much less sensitive than wall time to the other jobs on a shared machine."""
    env = dict(env, CNI_COMMAND=command)
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run([exe], input=json.dumps(config).encode(), env=env,
                          capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{exe} {command} failed: {proc.stdout!r} {proc.stderr[-300:]!r}")
    return elapsed * 1000.0, (_children_cpu() - cpu) * 1000.0


def _zygote_children_cpu(z: Zygote) -> float:
    assert z._proc is not None
    with open(f"/proc/{z._proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def run_forked(z: Zygote, command: str, config: dict[str, object], env: dict[str, str]
               ) -> tuple[float, float]:
    """(wall ms, CPU ms of the zygote's children so far, as a delta) of one forked call."""
    env = dict(env, CNI_COMMAND=command)
    module = z.module_of(os.path.join(z.launcher_dir, "podnet-bridge"))
    assert module is not None
    before = _zygote_children_cpu(z)
    start = time.perf_counter()
    code, out, err = z.run(module, env, json.dumps(config).encode(), 60)
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"zygote {command} failed: {out!r} {err[-300:]!r}")
    time.sleep(0.002)  # let the zygote reap the child (its CPU lands in the zygote's cutime)
    return elapsed * 1000.0, (_zygote_children_cpu(z) - before) * 1000.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--json", default="")
    parser.add_argument("--podnet-dir", default="")
    parser.add_argument("--no-zygote", action="store_true")
    opts = parser.parse_args()
    podnet_dir = opts.podnet_dir or cni_path()
    load_before = os.getloadavg()
    tag = f"pn-b{uuid.uuid4().hex[:6]}"
    node, pod = f"{tag}-node", f"{tag}-pod"
    data = tempfile.mkdtemp(prefix="pn-cnibench-")
    netns.create(node)
    netns.create(pod)
    kinds = [*IMPLS, *([] if opts.no_zygote else ["podnet (zygote)"])]
    times: dict[str, dict[str, list[float]]] = {k: {"ADD": [], "DEL": []} for k in kinds}
    cpu: dict[str, dict[str, list[float]]] = {k: {"ADD": [], "DEL": []} for k in kinds}
    zygote = None if opts.no_zygote else Zygote(podnet_dir)
    if zygote is not None:
        zygote.start()
    zygote_cpu = {"ADD": 0.0, "DEL": 0.0}
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("CNI_") and k != "PYTHONDONTWRITEBYTECODE"}
    base.update(CNI_NETNS=netns.path_of(pod), CNI_IFNAME="eth0",
                CNI_PATH=f"{podnet_dir}:{REFERENCE}")
    try:
        with netns.entered(node):
            for cycle in range(opts.cycles + 1):  # cycle 0 warms caches, not counted
                for i, (impl, (bridge, ipam, directory)) in enumerate(IMPLS.items()):
                    conf = {"cniVersion": "1.0.0", "name": f"bench{impl}", "type": bridge,
                            "bridge": f"pnb{tag[4:]}{i}", "isGateway": True,
                            "ipam": {"type": ipam, "dataDir": data,
                                     "ranges": [[{"subnet": f"10.250.{240 + i}.0/24"}]],
                                     "routes": [{"dst": "10.250.0.0/16"}]}}
                    exe = os.path.join(directory or podnet_dir, bridge)
                    env = dict(base, CNI_CONTAINERID=f"b{cycle}")
                    add = run(exe, "ADD", conf, env)
                    delete = run(exe, "DEL", conf, env)
                    if cycle:
                        for verb, (wall, used) in (("ADD", add), ("DEL", delete)):
                            times[impl][verb].append(wall)
                            cpu[impl][verb].append(used)
                if zygote is not None:
                    conf = {"cniVersion": "1.0.0", "name": "benchzygote", "type": "podnet-bridge",
                            "bridge": f"pnb{tag[4:]}z", "isGateway": True,
                            "ipam": {"type": "podnet-host-local", "dataDir": data,
                                     "ranges": [[{"subnet": "10.250.242.0/24"}]],
                                     "routes": [{"dst": "10.250.0.0/16"}]}}
                    env = dict(base, CNI_CONTAINERID=f"z{cycle}")
                    for verb in ("ADD", "DEL"):
                        wall, used = run_forked(zygote, verb, conf, env)
                        if cycle:
                            times["podnet (zygote)"][verb].append(wall)
                            zygote_cpu[verb] += used
    finally:
        if zygote is not None:
            zygote.close()
        netns.delete(pod)
        netns.delete(node)
        subprocess.run(["rm", "-rf", data], check=False)
    load = {"before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()]}
    report: dict[str, object] = {"cycles": opts.cycles, "loadavg": load}
    print(f"load average before {load['before']}, after {load['after']}")
    for verb, total in zygote_cpu.items():
        if times.get("podnet (zygote)", {}).get(verb):
            cpu["podnet (zygote)"][verb] = [total / len(times["podnet (zygote)"][verb])]
    for verb in ("ADD", "DEL"):
        row = {}
        for impl in kinds:
            row[impl] = {"median_ms": round(statistics.median(times[impl][verb]), 1),
                         "p90_ms": round(p90(times[impl][verb]), 1),
                         "cpu_median_ms": round(statistics.median(cpu[impl][verb]), 1)}
        ratio = row["podnet"]["median_ms"] / row["reference"]["median_ms"]
        ratio90 = row["podnet"]["p90_ms"] / row["reference"]["p90_ms"]
        ratio_cpu = row["podnet"]["cpu_median_ms"] / max(row["reference"]["cpu_median_ms"], 0.1)
        report[verb] = dict(row, ratio_median=round(ratio, 2), ratio_p90=round(ratio90, 2),
                            ratio_cpu=round(ratio_cpu, 2))
        print(f"{verb}: podnet median {row['podnet']['median_ms']} ms p90 {row['podnet']['p90_ms']}"
              f" ms cpu {row['podnet']['cpu_median_ms']} ms | reference median "
              f"{row['reference']['median_ms']} ms p90 {row['reference']['p90_ms']} ms cpu "
              f"{row['reference']['cpu_median_ms']} ms | ratio median {ratio:.2f} p90 "
              f"{ratio90:.2f} cpu {ratio_cpu:.2f}")
        if "podnet (zygote)" in row:
            z = row["podnet (zygote)"]
            print(f"{verb}: podnet forked from the agent's zygote median {z['median_ms']} ms p90 "
                  f"{z['p90_ms']} ms cpu {z['cpu_median_ms']} ms | ratio to reference median "
                  f"{z['median_ms'] / row['reference']['median_ms']:.2f} cpu "
                  f"{z['cpu_median_ms'] / max(row['reference']['cpu_median_ms'], 0.1):.2f}")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
