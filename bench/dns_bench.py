"""Cluster DNS bench: podnet's server against dnsmasq, same records, same query mix, one run.

    python bench/dns_bench.py [--duration 10] [--workers 2] [--json out.json]

Needs Debian's ``dnsperf`` and ``dnsmasq`` (apt-get install dnsperf dnsmasq-base).
Everything runs on loopback high ports; dnsmasq is started by this script in the
foreground with ``--no-resolv --no-hosts --addn-hosts=<file>`` (never port 53,
never the system's config) and stopped at the end.

What it measures, for both servers with the same A records (ClusterIP Services,
headless Services with several endpoints) and the same mix (80 % ClusterIP A,
10 % headless A, 10 % NXDOMAIN inside the zone):

* throughput: dnsperf with many outstanding queries (QPS, lost, mean latency),
  plus the server's own CPU time per answered query (from /proc), which is what
  a core buys when dnsperf is not sharing the machine;
* latency at a fixed moderate rate (mean and max);
* the cost of one external name from a pod through ``ndots:5``: queries per
  lookup (A + AAAA) without and with podnet's autopath (dnsmasq plays the
  upstream "internet" that knows example.com).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from podnet.dns.resolve import resolve, server_asker

LO = "127.0.0.1"
ZONE = "cluster.local"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LO, 0))
        return int(s.getsockname()[1])


def fixture(n_svc: int, n_headless: int, eps: int) -> tuple[list[dict[str, Any]],
                                                          list[tuple[str, str]]]:
    """Objects and the (name, ip) A records they stand for."""
    objs: list[dict[str, Any]] = []
    records: list[tuple[str, str]] = []
    for i in range(n_svc):
        ns, name, ip = f"bench{i % 10}", f"svc{i}", f"10.96.{1 + i // 250}.{1 + i % 250}"
        objs.append({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": name, "namespace": ns},
                     "spec": {"clusterIP": ip, "clusterIPs": [ip],
                              "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        records.append((f"{name}.{ns}.svc.{ZONE}", ip))
    for i in range(n_headless):
        ns, name = f"bench{i % 10}", f"hl{i}"
        objs.append({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": name, "namespace": ns},
                     "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}})
        ips = [f"10.244.{1 + i // 80}.{1 + (i % 80) * 3 + k}" for k in range(eps)]
        objs.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                     "metadata": {"name": f"{name}-1", "namespace": ns,
                                  "labels": {"kubernetes.io/service-name": name}},
                     "addressType": "IPv4", "ports": [{"name": "http", "port": 80}],
                     "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}
                                   for ip in ips]})
        records.extend((f"{name}.{ns}.svc.{ZONE}", ip) for ip in ips)
    # the bench client itself is a pod of bench0 (autopath finds its namespace by IP)
    objs.append({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "bench-client", "namespace": "bench0"},
                 "status": {"podIP": LO, "phase": "Running"}})
    return objs, records


def query_mix(records: list[tuple[str, str]], n_svc: int, lines: int) -> str:
    rnd = random.Random(6)
    cluster = [n for n, _ in records[:n_svc]]
    headless = sorted({n for n, _ in records[n_svc:]})
    out = []
    for _ in range(lines):
        x = rnd.random()
        if x < 0.8:
            out.append(f"{rnd.choice(cluster)} A")
        elif x < 0.9:
            out.append(f"{rnd.choice(headless)} A")
        else:
            out.append(f"missing{rnd.randrange(1000)}.bench{rnd.randrange(10)}.svc.{ZONE} A")
    return "\n".join(out) + "\n"


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live children (the worker processes)."""
    pids = [pid]
    try:
        pids += [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def dnsperf(port: int, qfile: Path, duration: float, extra: list[str]) -> dict[str, float]:
    out = subprocess.run(["dnsperf", "-s", LO, "-p", str(port), "-d", str(qfile),
                          "-l", str(duration), *extra],
                         capture_output=True, text=True, timeout=duration + 60).stdout

    def grab(label: str) -> float:
        m = re.search(label + r":\s+([\d.]+)", out)
        return float(m.group(1)) if m else float("nan")

    m = re.search(r"Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)", out)
    return {"qps": grab("Queries per second"), "completed": grab("Queries completed"),
            "lost": grab("Queries lost"),
            "latency_ms": float(m.group(1)) * 1e3 if m else float("nan"),
            "latency_max_ms": float(m.group(3)) * 1e3 if m else float("nan")}


def start(cmd: list[str], ready: str | None, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if ready is not None:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if ready not in line:
            proc.kill()
            raise SystemExit(f"{cmd[0]} did not start: {line}")
    deadline = time.time() + 10
    while time.time() < deadline:  # until it answers (any rcode)
        try:
            server_asker(LO, port, timeout=0.5)("dns-version." + ZONE, "TXT")
            return proc
        except (OSError, ValueError):
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{cmd[0]} does not answer on port {port}")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def measure(name: str, proc: subprocess.Popen[str], port: int, qfile: Path,
            args: argparse.Namespace) -> dict[str, Any]:
    dnsperf(port, qfile, 2, ["-c", "4", "-q", "100"])  # warm caches
    cpu0 = cpu_seconds(proc.pid)
    top = dnsperf(port, qfile, args.duration, ["-c", "8", "-T", "4", "-q", "400"])
    cpu = cpu_seconds(proc.pid) - cpu0
    top["server_cpu_us_per_query"] = cpu / top["completed"] * 1e6 if top["completed"] else 0
    fixed = dnsperf(port, qfile, args.duration, ["-c", "4", "-T", "2", "-q", "50",
                                                 "-Q", str(args.rate)])
    print(f"{name:8s} max {top['qps']:>9.0f} QPS  lost {top['lost']:.0f}  "
          f"mean {top['latency_ms']:.2f} ms  server CPU {top['server_cpu_us_per_query']:.1f} "
          f"us/query | at {args.rate} QPS: mean {fixed['latency_ms']:.3f} ms "
          f"max {fixed['latency_max_ms']:.1f} ms", flush=True)
    return {"max": top, "fixed_rate": fixed}


def external_cost(port: int, autopath: bool) -> dict[str, Any]:
    """Queries and time one external lookup (A + AAAA, as getaddrinfo) costs from a pod."""
    ask = server_asker(LO, port, timeout=2)
    queries, t0, n = 0, time.perf_counter(), 20
    ok = True
    for _ in range(n):
        for qtype in ("A", "AAAA"):
            r = resolve(ask, "example.com", qtype, namespace="bench0")
            queries += r.queries
            ok = ok and (qtype == "AAAA" or r.answer.datas("A")[-1:] == ["93.184.215.14"])
    return {"autopath": autopath, "queries_per_lookup": queries / n, "answered": ok,
            "ms_per_lookup": (time.perf_counter() - t0) / n * 1e3}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--services", type=int, default=500)
    ap.add_argument("--headless", type=int, default=50)
    ap.add_argument("--rate", type=int, default=10000, help="QPS of the fixed-rate latency run")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    for tool in ("dnsperf", "dnsmasq"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is missing: apt-get install dnsperf dnsmasq-base")
    dnsmasq_bin = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    results: dict[str, Any] = {"cpus": os.cpu_count(), "workers": args.workers,
                               "duration_s": args.duration}
    with tempfile.TemporaryDirectory(prefix="pn-dnsbench-") as tmp:
        d = Path(tmp)
        objs, records = fixture(args.services, args.headless, 3)
        (d / "cluster.yaml").write_text(yaml.safe_dump_all(objs))
        (d / "hosts").write_text("".join(f"{ip} {name}\n" for name, ip in records))
        qfile = d / "queries.txt"
        qfile.write_text(query_mix(records, args.services, 20000))
        p_port, m_port, up_port = free_port(), free_port(), free_port()
        dnsmasq_common = ["--keep-in-foreground", "--no-resolv", "--no-hosts", "--pid-file=",
                          "--bind-interfaces", f"--listen-address={LO}", "--cache-size=10000",
                          "--user=" + (os.environ.get("USER") or "root"), "--log-facility=-"]
        upstream = start([dnsmasq_bin, *dnsmasq_common, f"--port={up_port}",
                          "--address=/example.com/93.184.215.14",
                          "--address=/example.com/2001:db8::14"], None, up_port)
        podnet_cmd = [sys.executable, "-m", "podnet.dns.server", "--listen", f"{LO}:{p_port}",
                      "--workers", str(args.workers), "--upstream", f"{LO}:{up_port}",
                      "--manifests", str(d / "cluster.yaml")]
        try:
            pn = start(podnet_cmd, "listening on", p_port)
            try:
                results["podnet"] = measure("podnet", pn, p_port, qfile, args)
                results["external_without_autopath"] = external_cost(p_port, False)
            finally:
                stop(pn)
            dm = start([dnsmasq_bin, *dnsmasq_common, f"--port={m_port}",
                        f"--addn-hosts={d / 'hosts'}", f"--local=/{ZONE}/"], None, m_port)
            try:
                results["dnsmasq"] = measure("dnsmasq", dm, m_port, qfile, args)
            finally:
                stop(dm)
            pn = start([*podnet_cmd, "--autopath"], "listening on", p_port)
            try:
                results["external_with_autopath"] = external_cost(p_port, True)
            finally:
                stop(pn)
        finally:
            stop(upstream)
    p, m = results["podnet"], results["dnsmasq"]
    results["ratios"] = {
        "qps_podnet_over_dnsmasq": p["max"]["qps"] / m["max"]["qps"],
        "latency_at_max_podnet_over_dnsmasq": p["max"]["latency_ms"] / m["max"]["latency_ms"],
        "latency_at_fixed_rate_podnet_over_dnsmasq":
            p["fixed_rate"]["latency_ms"] / m["fixed_rate"]["latency_ms"],
        "server_cpu_per_query_podnet_over_dnsmasq":
            p["max"]["server_cpu_us_per_query"] / m["max"]["server_cpu_us_per_query"],
    }
    for k in ("external_without_autopath", "external_with_autopath"):
        e = results[k]
        print(f"external lookup (A+AAAA) from a pod, {k.split('_', 1)[1].replace('_', ' ')}: "
              f"{e['queries_per_lookup']:.0f} queries, {e['ms_per_lookup']:.2f} ms")
    print(json.dumps(results["ratios"], indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
