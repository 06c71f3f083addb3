"""Helpers for whole-cluster tests: a uniquely named cluster in a private state dir, always torn down."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Cluster:
    name: str
    env: dict[str, str]
    root: Path

    def podnet(self, *args: str, check: bool = True, timeout: float = 120,
               stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "podnet.cli.main", *args], env=self.env, input=stdin,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"podnet {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def get(self, kind: str, *args: str) -> Any:
        return json.loads(self.podnet("get", kind, *args, "-o", "json").stdout)

    def wait(self, what: str, fn: Callable[[], Any], timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; last: {last!r}")

    def running_pods(self, namespace: str, count: int, timeout: float = 90) -> list[dict[str, Any]]:
        def ready() -> list[dict[str, Any]] | None:
            items = self.get("pods", "-n", namespace)["items"]
            ok = [p for p in items if (p.get("status") or {}).get("phase") == "Running"
                  and (p.get("status") or {}).get("podIP")]
            return ok if len(ok) >= count else None
        result: list[dict[str, Any]] = self.wait(f"{count} running pods in {namespace}", ready, timeout)
        return result

    def exec(self, pod: str, *cmd: str, namespace: str = "default", check: bool = True
             ) -> subprocess.CompletedProcess[str]:
        return self.podnet("exec", "-n", namespace, pod, "--", *cmd, check=check)


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def make_cluster(tmp_path_factory: pytest.TempPathFactory, *up_args: str) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"e{secrets.token_hex(3)}"
    root = tmp_path_factory.mktemp("podnet-state")
    env = dict(os.environ, PODNET_STATE_ROOT=str(root), PODNET_CLUSTER=name)
    c = Cluster(name, env, root)
    try:
        c.podnet("up", "--heartbeat", "2", "--restart-backoff", "1", *up_args, timeout=180)
        yield c
    finally:
        subprocess.run([sys.executable, "-m", "podnet.cli.main", "down"], env=env, capture_output=True,
                       timeout=120)
        leaked = {n for n in _netns() if n.startswith(f"pn-{name}-")}
        assert not leaked, f"namespaces left behind: {leaked}"


def cluster_context(tmp_path_factory: pytest.TempPathFactory, *up_args: str) -> Any:
    """``with cluster_context(f, "--nodes", "2") as c:`` — a cluster for one test."""
    import contextlib

    return contextlib.contextmanager(make_cluster)(tmp_path_factory, *up_args)
