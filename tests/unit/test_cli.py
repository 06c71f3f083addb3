"""The `podnet` command through its real entry point against a real control plane process."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def podnet(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "podnet.cli.main", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("state")
    name = f"t{secrets.token_hex(3)}"
    env = dict(os.environ, PODNET_STATE_ROOT=str(root), PODNET_CLUSTER=name)
    proc = subprocess.Popen([sys.executable, "-m", "podnet.cli.main", "controlplane"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sock = root / name / "apiserver.sock"
    for _ in range(200):
        if sock.exists():
            break
        time.sleep(0.05)
    assert sock.exists(), "control plane did not start"
    assert oct(sock.stat().st_mode & 0o777) == "0o600"
    try:
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_apply_get_label_describe_delete(cluster: dict[str, str]) -> None:
    r = podnet(cluster, "apply", "-f", str(ROOT / "examples/app"))
    assert r.returncode == 0, r.stderr
    assert "service/backend created" in r.stdout and "namespace/shop created" in r.stdout
    again = podnet(cluster, "apply", "-f", str(ROOT / "examples/app"))
    assert "service/backend unchanged" in again.stdout
    svc = yaml.safe_load(podnet(cluster, "get", "svc", "frontend", "-n", "shop", "-o", "yaml").stdout)
    assert svc["spec"]["ports"][0]["nodePort"] == 30080
    assert svc["spec"]["clusterIP"].startswith("10.")
    both = podnet(cluster, "get", "deploy,svc", "-n", "shop").stdout
    assert both.count("frontend") == 2 and "\n\nNAME" in both and "CLUSTER-IP" in both
    table = podnet(cluster, "get", "svc", "-A").stdout.splitlines()
    assert table[0].split()[:3] == ["NAMESPACE", "NAME", "TYPE"]
    assert any(line.split()[:2] == ["default", "kubernetes"] and "10.96.0.1" in line for line in table)
    # controllers made ReplicaSets and pods (db-1 waits for db-0 to be Ready: OrderedReady)
    deadline = time.time() + 20
    while time.time() < deadline:
        pods = podnet(cluster, "get", "pods", "-n", "shop", "-o", "name").stdout.split()
        if len(pods) == 6:
            break
        time.sleep(0.2)
    assert len(pods) == 6 and "pod/db-0" in pods and "pod/db-1" not in pods
    assert podnet(cluster, "get", "po", "-n", "shop", "-l", "app=frontend", "-o", "name").stdout.count("pod/") == 2
    # label: set, refuse without --overwrite, overwrite, remove
    assert podnet(cluster, "label", "svc", "backend", "-n", "shop", "team=a").returncode == 0
    refused = podnet(cluster, "label", "svc", "backend", "-n", "shop", "team=b")
    assert refused.returncode == 1 and "--overwrite is false" in refused.stderr
    assert podnet(cluster, "label", "svc", "backend", "-n", "shop", "team=b", "--overwrite").returncode == 0
    labels = yaml.safe_load(podnet(cluster, "get", "svc", "backend", "-n", "shop", "-o", "yaml").stdout)
    assert labels["metadata"]["labels"] == {"team": "b"}
    assert podnet(cluster, "label", "svc", "backend", "-n", "shop", "team-").returncode == 0
    assert podnet(cluster, "annotate", "svc", "backend", "-n", "shop", "note=x").returncode == 0
    desc = podnet(cluster, "describe", "svc", "backend", "-n", "shop").stdout
    assert "Selector:" in desc and "app=backend" in desc
    # delete by name; a second delete is NotFound (exit 1)
    assert podnet(cluster, "delete", "svc", "db", "-n", "shop").returncode == 0
    gone = podnet(cluster, "delete", "svc", "db", "-n", "shop")
    assert gone.returncode == 1 and "NotFound" in gone.stderr


def test_invalid_apply_changes_nothing_and_names_everything(cluster: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\ndata: {a: b}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec:\n  ports:\n  - port: 0\n  - port: 80\n    protocol: HTTP\n")
    r = podnet(cluster, "apply", "-f", str(bad))
    assert r.returncode == 1
    assert f"{bad}: document 2 (line 6): Service default/web is invalid" in r.stderr
    assert "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive" in r.stderr
    assert 'spec.ports[1].protocol: Unsupported value: "HTTP"' in r.stderr
    assert podnet(cluster, "get", "cm", "fine").returncode == 1  # nothing applied


def test_nodeport_collision_applies_nothing(cluster: dict[str, str], tmp_path: Path) -> None:
    f = tmp_path / "np.yaml"
    f.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: np-first}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: np1}\n"
        "spec: {type: NodePort, selector: {a: b}, ports: [{port: 80, nodePort: 31555}]}\n")
    assert podnet(cluster, "apply", "-f", str(f)).returncode == 0
    g = tmp_path / "np2.yaml"
    g.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: np-second}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: np2}\n"
        "spec: {type: NodePort, selector: {a: b}, ports: [{port: 80, nodePort: 31555}]}\n")
    r = podnet(cluster, "apply", "-f", str(g))
    assert r.returncode == 1 and "provided port is already allocated" in r.stderr
    assert podnet(cluster, "get", "cm", "np-second").returncode == 1


def test_stdin_and_usage_errors(cluster: dict[str, str]) -> None:
    r = podnet(cluster, "apply", "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-stdin}\n")
    assert r.returncode == 0 and "configmap/from-stdin created" in r.stdout
    assert podnet(cluster, "get", "widgets").returncode == 1
    assert podnet(cluster, "get").returncode == 2
    assert podnet(cluster, "get", "pods", "-o", "bogus").returncode == 2


def test_not_running_cluster_is_a_clear_error(tmp_path: Path) -> None:
    env = dict(os.environ, PODNET_STATE_ROOT=str(tmp_path), PODNET_CLUSTER="nope")
    r = podnet(env, "get", "pods")
    assert r.returncode == 1 and 'cluster "nope" is not running' in r.stderr


def test_offline_shows_bound_pods_with_ips() -> None:
    env = dict(os.environ)
    r = podnet(env, "offline", "-f", str(ROOT / "examples/app"), "pods", "-o", "wide")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    assert len(rows) == 7
    assert all(row[-2].startswith("10.244.") and row[-1].startswith("node-") for row in rows)
