"""`podnet up` / `podnet down`: nothing left behind, even after kill -9 of any part."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clusterlib import Cluster

pytestmark = [pytest.mark.root, pytest.mark.slow]


def snapshot() -> dict[str, object]:
    def out(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True).stdout

    procs = sorted(line for line in out("pgrep", "-af", "podnet").splitlines()
                   if "pytest" not in line and "pgrep" not in line)
    return {
        "netns": sorted(line.split()[0] for line in out("ip", "netns", "list").splitlines() if line),
        "links": sorted(line.split(":")[1].strip() for line in out("ip", "-o", "link").splitlines()),
        "nft": out("nft", "list", "tables"),
        "procs": procs,
        "etc_netns": sorted(os.listdir("/etc/netns")) if os.path.isdir("/etc/netns") else [],
    }


def _diff(before: dict[str, object], after: dict[str, object], cluster: str) -> dict[str, object]:
    """What differs, restricted to what could be this cluster's (other tests may run beside us)."""
    diff: dict[str, object] = {}
    for k in before:
        if before[k] != after[k]:
            a, b = after[k], before[k]
            if isinstance(a, list) and isinstance(b, list):
                extra = [x for x in a if x not in b and (cluster in str(x) or k in ("links", "nft"))]
                if extra:
                    diff[k] = extra
            elif cluster in str(a) or k == "nft":
                diff[k] = a
    return diff


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"l{secrets.token_hex(3)}"
    return Cluster(name, dict(os.environ, PODNET_STATE_ROOT=str(tmp_path), PODNET_CLUSTER=name), tmp_path)


def test_up_is_idempotent_and_down_removes_everything_after_kill_9(cluster: Cluster) -> None:
    c = cluster
    before = snapshot()
    try:
        r = c.podnet("up", "--nodes", "2", "--network", "vxlan", "--heartbeat", "2", timeout=120)
        assert "node node-1 Ready" in r.stdout and "podnet down" in r.stdout
        again = c.podnet("up", "--nodes", "2")
        assert "already running; nothing changed" in again.stdout
        status = c.podnet("status").stdout
        assert "control plane  running" in status and status.count("agent running") == 2
        c.podnet("apply", "-f", "-", stdin="apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
                 "spec: {containers: [{name: c, image: x, command: [sleep, '3600']}]}\n")
        c.wait("pod running", lambda: c.get("pods", "p")["status"].get("phase") == "Running", 60)
        sdir = c.root / c.name
        # kill -9 an agent and the control plane: the supervisor brings them back
        for pid_file in (sdir / "nodes" / "node-1" / "agent.pid", sdir / "controlplane.pid"):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        time.sleep(1)
        c.wait("everything running again", lambda: "NOT RUNNING" not in c.podnet("status").stdout, 30)
        assert c.get("pods", "p")["status"]["phase"] == "Running"
        # kill -9 the supervisor too: `podnet up` restarts it and adopts the rest
        os.kill(int((sdir / "supervisor.pid").read_text()), signal.SIGKILL)
        r = c.podnet("up")
        assert "restarting" in r.stdout
    finally:
        down = c.podnet("down", check=False)
    assert down.returncode == 0, down.stderr
    assert "namespaces deleted" in down.stdout
    assert not (c.root / c.name).exists()
    assert _diff(before, snapshot(), c.name) == {}
    assert "nothing to remove" in c.podnet("down").stdout


def test_down_after_up_killed_half_way(cluster: Cluster) -> None:
    c = cluster
    before = snapshot()
    proc = subprocess.Popen([sys.executable, "-m", "podnet.cli.main", "up", "--nodes", "3"], env=c.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (c.root / c.name / "supervisor.pid").exists():
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    finally:
        c.podnet("down", check=False)
    assert _diff(before, snapshot(), c.name) == {}
    assert not (c.root / c.name).exists()


def test_two_clusters_side_by_side_and_down_removes_only_its_own(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    env = dict(os.environ, PODNET_STATE_ROOT=str(tmp_path))
    a, b = (Cluster(f"s{secrets.token_hex(2)}{x}", dict(env, PODNET_CLUSTER=""), tmp_path) for x in "ab")
    for c in (a, b):
        c.env["PODNET_CLUSTER"] = c.name
    try:
        a.podnet("up", "--nodes", "1", "--heartbeat", "2", timeout=120)
        b.podnet("up", "--nodes", "1", "--heartbeat", "2", "--pod-cidr", "10.245.0.0/16",
                 "--service-cidr", "10.97.0.0/16", timeout=120)
        pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x, ports: [{containerPort: 8080}]}]}\n"
        for c in (a, b):
            c.podnet("apply", "-f", "-", stdin=pod)
        ip_a = a.running_pods("default", 1)[0]["status"]["podIP"]
        ip_b = b.running_pods("default", 1)[0]["status"]["podIP"]
        assert ip_a.startswith("10.244.") and ip_b.startswith("10.245.")
        assert b.get("svc", "kubernetes")["spec"]["clusterIP"] == "10.97.0.1"
        a.podnet("down")
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"pn-{a.name}-" not in names and f"pn-{b.name}-node-1" in names
        r = subprocess.run(["ip", "netns", "exec", f"pn-{b.name}-node-1", "curl", "-s", "--max-time", "3",
                            f"http://{ip_b}:8080/hostname"], capture_output=True, text=True)
        assert r.stdout == "p"
    finally:
        for c in (a, b):
            c.podnet("down", check=False)
