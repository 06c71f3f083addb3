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
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from podnet.policy.analyze import analyze
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
