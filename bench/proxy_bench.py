"""Service proxy benchmark (root; CI does not run it).

(a) full sync of 1k, 5k, 10k services x 3 endpoints: podnet's few-maps layout
    vs a generated kube-proxy-style layout (a chain per service and per
    endpoint plus an anonymous numgen vmap per service), both loaded by the
    same ``nft`` into a throwaway network namespace; ratio printed.
(b) one endpoint change at 10k services through the incremental path
    (Proxier.sync: re-plan one service + one element-level transaction).

    sudo python3 bench/proxy_bench.py [--sizes 1000,5000,10000] [--skip-kube]
"""

from __future__ import annotations

import argparse
import ipaddress
import statistics
import subprocess
import time
import uuid

from podnet.kernel import nft_apply
from podnet.proxy import render
from podnet.proxy.layout import build
from podnet.proxy.plan import plan
from podnet.proxy.sync import Proxier
from podnet.proxy.testing import endpoint_slice, ep, port, service, slice_port

NODE_IP = "172.18.0.11"
SVC_BASE = ipaddress.ip_address("10.96.0.0")
POD_BASE = ipaddress.ip_address("10.244.0.0")


def world(n: int, eps: int = 3) -> tuple[list[dict], list[dict]]:
    """n ClusterIP services, each with ``eps`` endpoints spread over 3 nodes (we are node-1)."""
    services, slices = [], []
    for i in range(n):
        services.append(service(f"s{i}", str(SVC_BASE + 16 + i), [port(80, target=8080)]))
        slices.append(endpoint_slice(
            f"s{i}", [ep(str(POD_BASE + 256 + eps * i + j), f"node-{j % 3 + 1}")
                      for j in range(eps)],
            [slice_port(8080)]))
    return services, slices


def kube_proxy_style(n: int, eps: int = 3) -> str:
    """kube-proxy nftables-mode shape: service-ips vmap -> chain per service -> chain per endpoint."""
    out = ["add table ip kp-bench", "delete table ip kp-bench", "table ip kp-bench {",
           "\tchain mark-for-masquerade { meta mark set meta mark | 0x4000; }"]
    elements = []
    for i in range(n):
        vip = SVC_BASE + 16 + i
        svc = f"service-{i}-default-s{i}-tcp-80"
        picks = []
        for j in range(eps):
            pod = POD_BASE + 256 + eps * i + j
            chain = f"endpoint-{i}-{j}-default-s{i}-tcp-80__{pod}-8080"
            out.append(f"\tchain {chain} {{ ip saddr {pod} jump mark-for-masquerade; "
                       f"meta l4proto tcp dnat to {pod}:8080; }}")
            picks.append(f"{j} : goto {chain}")
        out.append(f"\tchain {svc} {{ ip daddr {vip} tcp dport 80 ip saddr != 10.244.0.0/16 "
                   f"jump mark-for-masquerade; numgen random mod {eps} vmap "
                   f"{{ {', '.join(picks)} }}; }}")
        elements.append(f"{vip} . tcp . 80 : goto {svc}")
    out.append("\tmap service-ips { type ipv4_addr . inet_proto . inet_service : verdict; "
               f"elements = {{ {', '.join(elements)} }}; }}")
    out.append("\tchain services { type nat hook prerouting priority -100; policy accept; "
               "ip daddr . meta l4proto . th dport vmap @service-ips; }")
    out.append("}")
    return "\n".join(out) + "\n"


def timed_load(script: str, ns: str) -> float:
    t = time.perf_counter()
    nft_apply.apply(script, ns)
    return time.perf_counter() - t


def bench_full(sizes: list[int], ns: str, skip_kube: bool) -> None:
    print("(a) full sync, services x 3 endpoints (nft load time; plan/render separately)")
    print(f"{'services':>9} {'podnet':>9} {'kube-style':>11} {'ratio':>7} {'elements':>9} "
          f"{'py plan+render':>15}")
    for n in sizes:
        services, slices = world(n)
        t = time.perf_counter()
        state = build(plan(services, slices, "node-1", [NODE_IP]))
        script = render.full(state)
        py = time.perf_counter() - t
        nft_apply.delete_table("ip", "podnet-proxy", ns)
        ours = min(timed_load(script, ns) for _ in range(3))  # includes replacing the table
        nft_apply.delete_table("ip", "podnet-proxy", ns)
        kube = float("nan")
        if not skip_kube:
            kube = timed_load(kube_proxy_style(n), ns)
            nft_apply.delete_table("ip", "kp-bench", ns)
        print(f"{n:>9} {ours:>8.3f}s {kube:>10.2f}s {kube / ours:>6.0f}x "
              f"{state.element_count:>9} {py:>14.2f}s", flush=True)


def bench_incremental(n: int, ns: str, rounds: int = 20) -> None:
    services, slices = world(n)
    px = Proxier("node-1", [NODE_IP], netns=ns, min_sync_period=0)
    px.update(services, slices)
    first = px.sync()
    print(f"\n(b) one endpoint change at {n} services (initial full sync: "
          f"plan {first.plan_seconds:.2f}s + nft {first.apply_seconds:.2f}s)")
    totals, applies = [], []
    for r in range(rounds):
        sl = slices[r * 37 % n]
        changed = {**sl, "endpoints": [*sl["endpoints"][:2], ep(str(POD_BASE + 60000 + r))]}
        t = time.perf_counter()
        px.set_endpoint_slice(changed)
        res = px.sync()
        totals.append(time.perf_counter() - t)
        applies.append(res.apply_seconds)
        assert res.mode == "incremental" and res.error is None, res
    print(f"  set_endpoint_slice + sync: median {statistics.median(totals) * 1000:.1f} ms, "
          f"max {max(totals) * 1000:.1f} ms; nft transaction alone: median "
          f"{statistics.median(applies) * 1000:.1f} ms ({rounds} rounds)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,5000,10000")
    ap.add_argument("--skip-kube", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    ns = f"pn-bench-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        print(subprocess.run(["nft", "--version"], capture_output=True, text=True).stdout.strip())
        bench_full(sizes, ns, args.skip_kube)
        bench_incremental(max(sizes), ns)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
