"""Offline truth-table bench: podnet vs network-config-analyzer (NCA), same run, same inputs.

Usage::

    python bench/policy_bench.py [--nca PATH_TO_nca] [--sizes small,large] [--seed 7] [--keep DIR]

For each size (small: 200 pods / 10 namespaces / 50 policies; large: 1000 / 20 /
200) it generates a seeded cluster with random label selectors (matchLabels and
matchExpressions), named ports whose numbers differ between pods, endPort
ranges, protocol-only ports and ipBlocks with except, writes it as YAML, then

- times podnet: YAML load, then ``analyze`` (resolve + truth table) over every
  declared containerPort number x {TCP, UDP};
- times ``nca --connectivity -r DIR -o txt_no_fw_rules --output_endpoints pods``
  (skipped, with the reason printed, when NCA is missing or fails);
- parses NCA's connectivity lines and compares every (from, to, port, protocol)
  off the diagonal, classifying each difference with podnet's own verdict
  (allowed only through an ipBlock peer matching a pod IP: NCA treats ipBlocks as
  cluster-external only).

CI does not run this; docs/policy.md records the method and the numbers.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from podnet.policy.analyze import analyze
from podnet.policy.explain import format_verdict
from podnet.policy.semantics import verdict
from podnet.policy.table import TruthTable

SIZES = {"small": (200, 10, 50), "large": (1000, 20, 200)}
APPS = [f"app{i}" for i in range(12)]
TIERS = ["web", "api", "db", "cache"]
ENVS = ["prod", "dev", "test"]
TEAMS = ["red", "blue", "green", "gold"]
# (name, number, protocol): the same name means different numbers on different pods
PORT_POOL = [("http", 80, "TCP"), ("http", 8080, "TCP"), ("https", 443, "TCP"),
             ("pg", 5432, "TCP"), ("redis", 6379, "TCP"), ("dns", 53, "UDP"),
             ("dns-tcp", 53, "TCP"), ("metrics", 9090, "TCP"), ("syslog", 514, "UDP")]


def _pod_ip(i: int) -> str:
    return f"10.244.{i // 200}.{i % 200 + 10}"


def _selector(rng: random.Random, keys: dict[str, list[str]], empty: float = 0.1) -> dict[str, Any]:
    roll = rng.random()
    if roll < empty:
        return {}
    key = rng.choice(list(keys))
    if roll < 0.6:
        return {"matchLabels": {key: rng.choice(keys[key])}}
    op = rng.choice(["In", "NotIn", "Exists", "DoesNotExist"])
    expr: dict[str, Any] = {"key": key, "operator": op}
    if op in ("In", "NotIn"):
        expr["values"] = rng.sample(keys[key], 2)
    return {"matchExpressions": [expr]}


POD_KEYS = {"app": APPS, "tier": TIERS}
NS_KEYS = {"env": ENVS, "team": TEAMS}


def _peer(rng: random.Random, n_pods: int) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.35:
        return {"podSelector": _selector(rng, POD_KEYS)}
    if roll < 0.55:
        return {"namespaceSelector": _selector(rng, NS_KEYS)}
    if roll < 0.85:
        return {"namespaceSelector": _selector(rng, NS_KEYS), "podSelector": _selector(rng, POD_KEYS)}
    third = rng.randrange(max(1, n_pods // 200))
    block: dict[str, Any] = {"cidr": rng.choice([f"10.244.{third}.0/24", "10.244.0.0/16", "0.0.0.0/0"])}
    if rng.random() < 0.5:
        block["except"] = [f"10.244.{third}.{rng.randrange(16) * 16}/28"]
    return {"ipBlock": block}


def _port(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.35:
        name, num, proto = rng.choice(PORT_POOL)
        return {"port": num, "protocol": proto} if rng.random() < 0.7 else {"port": num}
    if roll < 0.65:
        name, num, proto = rng.choice(PORT_POOL)
        return {"port": name, "protocol": proto}
    if roll < 0.85:
        lo = rng.choice([50, 80, 400, 5000, 8000])
        return {"port": lo, "endPort": lo + rng.choice([10, 100, 1000]), "protocol": rng.choice(["TCP", "UDP"])}
    return {"protocol": rng.choice(["TCP", "UDP"])}


def _rule(rng: random.Random, field: str, n_pods: int) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if rng.random() < 0.9:
        rule[field] = [_peer(rng, n_pods) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.75:
        rule["ports"] = [_port(rng) for _ in range(rng.randint(1, 3))]
    return rule


def generate(n_pods: int, n_ns: int, n_pol: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    names = [f"ns{i}" for i in range(n_ns)]
    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": n, "labels": {"env": rng.choice(ENVS), "team": rng.choice(TEAMS)}}} for n in names]
    pods = []
    for i in range(n_pods):
        chosen = rng.sample(PORT_POOL, rng.randint(1, 3))
        seen: set[str] = set()
        ports = []
        for name, num, proto in chosen:
            if name in seen:
                continue
            seen.add(name)
            ports.append({"name": name, "containerPort": num, "protocol": proto})
        labels = {"app": rng.choice(APPS), "tier": rng.choice(TIERS)}
        pods.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"pod{i}", "namespace": rng.choice(names), "labels": labels},
                     "spec": {"nodeName": f"node-{i % 4 + 1}",
                              "containers": [{"name": "main", "image": "agnhost", "ports": ports}]},
                     "status": {"phase": "Running", "podIP": _pod_ip(i),
                                "hostIP": f"172.18.0.{11 + i % 4}"}})
    policies = []
    for i in range(n_pol):
        spec: dict[str, Any] = {"podSelector": _selector(rng, POD_KEYS, empty=0.15)}
        types = rng.choice([["Ingress"], ["Ingress"], ["Egress"], ["Ingress", "Egress"]])
        spec["policyTypes"] = types
        if "Ingress" in types:
            spec["ingress"] = [_rule(rng, "from", n_pods) for _ in range(rng.randint(0, 3))]
        if "Egress" in types:
            spec["egress"] = [_rule(rng, "to", n_pods) for _ in range(rng.randint(0, 3))]
        policies.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                         "metadata": {"name": f"np{i}", "namespace": rng.choice(names)}, "spec": spec})
    return {"namespaces": namespaces, "pods": pods, "policies": policies}


def write(objs: dict[str, list[dict[str, Any]]], directory: Path) -> None:
    for kind, items in objs.items():
        with open(directory / f"{kind}.yaml", "w") as f:
            yaml.safe_dump_all(items, f, sort_keys=False)


def load(directory: Path) -> dict[str, list[dict[str, Any]]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: dict[str, list[dict[str, Any]]] = {"Namespace": [], "Pod": [], "NetworkPolicy": []}
    for path in sorted(directory.glob("*.yaml")):
        with open(path) as f:
            for doc in yaml.load_all(f, Loader=loader):
                if doc:
                    out.setdefault(doc["kind"], []).append(doc)
    return out


# -- NCA -------------------------------------------------------------------------

_GROUP = re.compile(r"\{([^}]*)\}")


def _conn_keys(conns: str, keys: list[tuple[int, str]]) -> list[int]:
    """Indexes of ``keys`` that an NCA connection text admits."""
    if conns.strip() == "All connections":
        return list(range(len(keys)))
    allowed: set[int] = set()
    for group in _GROUP.findall(conns):
        protos_text, _, ports_text = group.partition(",dst_ports:")
        protos = {p.strip() for p in protos_text.removeprefix("protocols:").split(",")}
        ranges = []
        for part in ports_text.split(",") if ports_text else []:
            lo, _, hi = part.partition("-")
            ranges.append((int(lo), int(hi or lo)))
        for k, (port, proto) in enumerate(keys):
            if proto in protos and (not ranges or any(lo <= port <= hi for lo, hi in ranges)):
                allowed.add(k)
    return sorted(allowed)


def nca_rows(text: str, pods: list[str], keys: list[tuple[int, str]]) -> dict[tuple[int, str], list[int]]:
    """NCA's ``txt_no_fw_rules`` output as truth-table rows (pod pairs only)."""
    index = {p: i for i, p in enumerate(pods)}
    rows = {k: [0] * len(pods) for k in keys}
    memo: dict[str, list[int]] = {}
    for line in text.splitlines():
        src, sep, rest = line.partition(" => ")
        if not sep:
            continue
        dst, _, conns = rest.partition(" : ")
        s, d = index.get(src.strip()), index.get(dst.strip())
        if s is None or d is None:
            continue  # IP ranges: outside the pod table
        ks = memo.get(conns)
        if ks is None:
            ks = memo[conns] = _conn_keys(conns, keys)
        for k in ks:
            rows[keys[k]][s] |= 1 << d
    return rows


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_nca(nca: str, directory: Path, timeout: float) -> tuple[float, str | None, str]:
    """(CPU seconds, stdout or None on failure, error text). CPU time, not wall time:
    the bench machine is shared, and NCA is single-threaded."""
    cmd = [nca, "--connectivity", "-r", str(directory), "-o", "txt_no_fw_rules",
           "--output_endpoints", "pods"]
    t0, c0 = time.perf_counter(), _child_cpu()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return time.perf_counter() - t0, None, str(e)
    elapsed = _child_cpu() - c0
    print(f"NCA wall time {time.perf_counter() - t0:.1f} s")
    if proc.returncode != 0 and "=>" not in proc.stdout:
        return elapsed, None, f"exit {proc.returncode}: {proc.stderr.strip()[-2000:]}"
    return elapsed, proc.stdout, ""


def diff(table: TruthTable, other: dict[tuple[int, str], list[int]]) -> list[tuple[int, int, tuple[int, str]]]:
    """(src, dst, key) where the tables differ, off the diagonal."""
    out = []
    for key in table.keys:
        mine, theirs = table.rows[key], other[key]
        for s in range(len(table.pods)):
            x = (mine[s] ^ theirs[s]) & ~(1 << s)
            while x:
                low = x & -x
                out.append((s, low.bit_length() - 1, key))
                x ^= low
    return out


def bench(size: str, seed: int, nca: str | None, keep: Path | None, timeout: float) -> None:
    n_pods, n_ns, n_pol = SIZES[size]
    print(f"== {size}: {n_pods} pods, {n_ns} namespaces, {n_pol} policies (seed {seed})")
    directory = Path(tempfile.mkdtemp(prefix=f"pn-policy-bench-{size}-", dir=keep))
    try:
        write(generate(n_pods, n_ns, n_pol, seed), directory)
        t0 = time.process_time()
        objs = load(directory)
        t1 = time.process_time()
        w1 = time.perf_counter()
        a = analyze(objs["Pod"], objs["Namespace"], objs["NetworkPolicy"], protocols=["TCP", "UDP"])
        t2, w2 = time.process_time(), time.perf_counter()
        cells = len(a.table.keys) * len(a.table.pods) ** 2
        print(f"podnet (CPU s): YAML load {t1 - t0:.2f}, analyze (resolve + table + lint) {t2 - t1:.3f} "
              f"(wall {w2 - w1:.3f}); "
              f"{len(a.table.keys)} port/protocols, {cells} cells, {len(a.warnings)} lint warnings")
        if not nca:
            print("NCA: not found (pip install network-config-analyzer; or --nca PATH)")
            return
        secs, out, err = run_nca(nca, directory, timeout)
        if out is None:
            print(f"NCA: failed after {secs:.1f} s: {err}")
            return
        print(f"NCA: {secs:.2f} CPU s; ratio NCA / podnet (analyze) {secs / (t2 - t1):.0f}x, "
              f"(load + analyze) {secs / (t2 - t0):.0f}x")
        theirs = nca_rows(out, a.table.pods, a.table.keys)
        diffs = diff(a.table, theirs)
        ext = analyze(objs["Pod"], objs["Namespace"], objs["NetworkPolicy"], protocols=["TCP", "UDP"],
                      ip_blocks_match_pods=False)
        ext_diffs = diff(ext.table, theirs)
        remaining = set(ext_diffs)
        by_ipblock = [x for x in diffs if x not in remaining]
        more = sum(1 for s, d, k in by_ipblock if a.table.rows[k][s] >> d & 1)
        print(f"differences (off the diagonal, which NCA does not list): {len(diffs)} of {cells} cells")
        print(f"  {len(by_ipblock)} vanish when ipBlocks match outside IPs only (NCA's reading); "
              f"in {more} of them podnet allows and NCA denies")
        print(f"  {len(ext_diffs)} remain with ipBlocks external-only")
        for s, d, (port, proto) in by_ipblock[:1] + ext_diffs[:10]:
            v = verdict(a.resolved, a.table.pods[s], a.table.pods[d], port, proto)
            print("  example: " + format_verdict(v).replace("\n", "\n    "))
    finally:
        if keep is None:
            shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nca", default=shutil.which("nca") or os.environ.get("NCA"))
    ap.add_argument("--sizes", default="small,large")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated YAML under this dir")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}; nca: {args.nca or 'missing'}")
    for size in args.sizes.split(","):
        bench(size, args.seed, args.nca, args.keep, args.timeout)


if __name__ == "__main__":
    main()
