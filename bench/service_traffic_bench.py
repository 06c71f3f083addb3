"""Service traffic through a real cluster (root; CI does not run it).

Brings up its own cluster (`podnet up`, unique name, private PODNET_STATE_ROOT,
2 nodes, flat) and always runs `podnet down` at the end. A client pod on node-1
and a server pod on node-2 (iperf3 server + the built-in HTTP server); Service
``srv`` selects the server pod. Then:

(c) iperf3 throughput and the short-connection rate (N sequential HTTP/1.0
    requests, each on a fresh TCP connection), client -> ClusterIP -> server
    vs client -> server pod IP; rounds alternate between the two paths;
    median of the rounds; ratio printed (goal >= 0.95).
(d) connection latency (connect + one HTTP request + close) to the ClusterIP
    with 10, 1k, 10k Services programmed in node-1's proxy table. The extra
    Services (x 3 endpoints) are not created through the API (2k objects take
    ~80 s there); they are loaded directly into node-1's live ``podnet-proxy``
    table as element-level additions rendered by the proxy's own layout
    (``Assembler`` + ``render.script``), exactly the elements the agent would
    add for them. The agent leaves foreign elements alone (it only rewrites
    the table on a full sync, which does not happen here).

    sudo python3 bench/service_traffic_bench.py [--rounds 3] [--seconds 4] [--requests 1000]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from podnet.proxy import render
from podnet.proxy.assemble import Assembler
from podnet.proxy.layout import FAMILY, TABLE
from podnet.proxy.plan import plan
from podnet.proxy.testing import endpoint_slice, ep, port, service, slice_port

MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  nodeName: node-1
  containers: [{name: c, image: podnet.dev/netexec, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: server, labels: {app: server}}
spec:
  nodeName: node-2
  containers:
  - {name: http, image: podnet.dev/netexec, ports: [{containerPort: 8080}]}
  - {name: iperf, image: debian, command: [iperf3, -s, -p, "5201"]}
---
apiVersion: v1
kind: Service
metadata: {name: srv}
spec:
  selector: {app: server}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: iperf, port: 5201}]
"""

# N fresh connections, one HTTP/1.0 request each; prints rate and latency percentiles.
CONNECTS = r'''
import json, socket, sys, time
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
req = b"GET /hostname HTTP/1.0\r\nHost: x\r\n\r\n"
lat = []
t0 = time.perf_counter()
for _ in range(n):
    t = time.perf_counter()
    with socket.create_connection((ip, port), timeout=2) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(req)
        while s.recv(4096):
            pass
    lat.append(time.perf_counter() - t)
total = time.perf_counter() - t0
lat.sort()
print(json.dumps({"rate": n / total, "p50": lat[n // 2], "p99": lat[int(n * 0.99)]}))
'''


class Bench:
    def __init__(self) -> None:
        self.name = f"b{secrets.token_hex(3)}"
        self.root = tempfile.mkdtemp(prefix="podnet-bench-")
        self.env = dict(os.environ, PODNET_STATE_ROOT=self.root, PODNET_CLUSTER=self.name)

    def podnet(self, *args: str, stdin: str | None = None) -> str:
        r = subprocess.run([sys.executable, "-m", "podnet.cli.main", *args], env=self.env,
                           input=stdin, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"podnet {' '.join(args)}: {r.stdout}\n{r.stderr}")
        return r.stdout

    def get(self, *args: str) -> Any:
        return json.loads(self.podnet("get", *args, "-o", "json"))

    def ns(self, what: str) -> str:
        return f"pn-{self.name}-{what}"

    def in_client(self, *cmd: str, timeout: float = 120) -> str:
        r = subprocess.run(["ip", "netns", "exec", self.ns("default.client"), *cmd],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{cmd}: {r.stdout}\n{r.stderr}")
        return r.stdout

    def wait_ready(self) -> tuple[str, str]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pods = {p["metadata"]["name"]: p for p in self.get("pods")["items"]}
            srv = self.get("services", "srv")
            server = pods.get("server", {}).get("status", {})
            if server.get("podIP") and all(
                    c.get("ready") for c in server.get("containerStatuses") or [{}]) \
                    and pods.get("client", {}).get("status", {}).get("podIP"):
                vip = srv["spec"]["clusterIP"]
                try:
                    self.connects(vip, 80, 5)
                    self.in_client("iperf3", "-c", vip, "-t", "1", "-J", timeout=20)
                    return server["podIP"], vip
                except (RuntimeError, subprocess.TimeoutExpired):
                    pass
            time.sleep(1)
        raise RuntimeError("pods or service not ready")

    def iperf(self, ip: str, seconds: int) -> float:
        out = json.loads(self.in_client("iperf3", "-c", ip, "-t", str(seconds), "-J",
                                        timeout=seconds + 30))
        return float(out["end"]["sum_received"]["bits_per_second"]) / 1e9

    def connects(self, ip: str, port: int, n: int) -> dict[str, float]:
        out: dict[str, float] = json.loads(self.in_client(
            sys.executable, "-I", "-S", "-c", CONNECTS, ip, str(port), str(n)))
        return out


def inject(b: Bench, count: int, start: int, skip: set[str]) -> float:
    """Load ``count`` more 3-endpoint ClusterIP Services into node-1's table; nft seconds."""
    base, pods = ipaddress.ip_address("10.100.0.0"), ipaddress.ip_address("10.250.0.0")
    services, slices = [], []
    for i in range(start, start + count):
        vip = str(base + i)
        if vip in skip:
            continue
        services.append(service(f"x{i}", vip, [port(80, target=8080)]))
        slices.append(endpoint_slice(f"x{i}", [ep(str(pods + 3 * i + j), f"node-{j + 2}")
                                               for j in range(3)], [slice_port(8080)]))
    asm = Assembler("10.244.0.0/16", node="node-1")
    asm.take_changes()
    for fe in plan(services, slices, "node-1", ["172.18.0.11"]).frontends:
        asm.set_service(fe.service, [fe])
    changes = asm.take_changes()
    changes.chains_added, changes.chains_changed = [], []  # pick-3 exists in the live table
    script = render.script(FAMILY, TABLE, changes)
    t = time.perf_counter()
    subprocess.run(["ip", "netns", "exec", b.ns("node-1"), "nft", "-f", "-"], input=script,
                   text=True, check=True)
    return time.perf_counter() - t


def programmed(b: Bench) -> int:
    out = subprocess.run(["ip", "netns", "exec", b.ns("node-1"), "nft", "-j", "list", "map",
                          FAMILY, TABLE, "service-ips"], capture_output=True, text=True,
                         check=True).stdout
    return sum(len(i["map"].get("elem") or []) for i in json.loads(out)["nftables"] if "map" in i)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--sizes", default="10,1000,10000")
    args = ap.parse_args()
    b = Bench()
    try:
        b.podnet("up", "--nodes", "2", "--network", "flat")
        b.podnet("apply", "-f", "-", stdin=MANIFEST)
        pod_ip, vip = b.wait_ready()
        print(f"cluster {b.name}: client on node-1 -> server {pod_ip} on node-2, "
              f"ClusterIP {vip}; {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}")
        thr: dict[str, list[float]] = {"pod": [], "svc": []}
        rate: dict[str, list[float]] = {"pod": [], "svc": []}
        for _ in range(args.rounds):
            for path, (ip, p) in (("pod", (pod_ip, 8080)), ("svc", (vip, 80))):
                thr[path].append(b.iperf(pod_ip if path == "pod" else vip, args.seconds))
                rate[path].append(b.connects(ip, p, args.requests)["rate"])
        t = {k: statistics.median(v) for k, v in thr.items()}
        r = {k: statistics.median(v) for k, v in rate.items()}
        print(f"\n(c) pod->pod vs pod->ClusterIP->pod (cross-node), median of {args.rounds} rounds")
        print(f"  iperf3 {args.seconds}s TCP: pod {t['pod']:.2f} Gbit/s, ClusterIP "
              f"{t['svc']:.2f} Gbit/s, ratio {t['svc'] / t['pod']:.3f}  "
              f"(rounds: pod {[round(x, 2) for x in thr['pod']]}, svc "
              f"{[round(x, 2) for x in thr['svc']]})")
        print(f"  short connections ({args.requests} sequential): pod {r['pod']:.0f}/s, "
              f"ClusterIP {r['svc']:.0f}/s, ratio {r['svc'] / r['pod']:.3f}  "
              f"(rounds: pod {[round(x) for x in rate['pod']]}, svc "
              f"{[round(x) for x in rate['svc']]})")
        print("\n(d) connection latency to the ClusterIP vs services programmed on node-1")
        print(f"  {'frontends':>9} {'p50 ms':>8} {'p99 ms':>8} {'conn/s':>8} {'load nft':>9}")
        have = programmed(b)
        skip = {vip}
        for size in [int(s) for s in args.sizes.split(",")]:
            load = inject(b, size - have, have, skip) if size > have else 0.0
            have = max(have, size)
            res = [b.connects(vip, 80, args.requests) for _ in range(args.rounds)]
            p50 = statistics.median(x["p50"] for x in res) * 1000
            p99 = statistics.median(x["p99"] for x in res) * 1000
            cps = statistics.median(x["rate"] for x in res)
            print(f"  {programmed(b):>9} {p50:>8.3f} {p99:>8.3f} {cps:>8.0f} {load:>8.2f}s",
                  flush=True)
    finally:
        subprocess.run([sys.executable, "-m", "podnet.cli.main", "down"], env=b.env,
                       capture_output=True, timeout=180)


if __name__ == "__main__":
    main()
