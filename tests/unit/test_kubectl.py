"""The real kubectl against a real `podnet controlplane` process over HTTPS with a bearer token.

The control plane writes <state>/kubeconfig (CA data, https://127.0.0.1:PORT, token); every
kubectl call here uses only that file. Skipped when kubectl is not installed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


@dataclass
class Kube:
    env: dict[str, str]
    kubeconfig: Path
    state: Path

    def __call__(self, *args: str, stdin: str | None = None,
                 check: bool = True) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        r = subprocess.run([KUBECTL, *args], env=self.env, input=stdin, capture_output=True,
                           text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r

    def rows(self, *args: str) -> list[list[str]]:
        return [line.split() for line in self(*args).stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    root = tmp_path_factory.mktemp("state")
    home = tmp_path_factory.mktemp("home")  # kubectl's discovery cache goes to $HOME/.kube
    name = f"k{secrets.token_hex(3)}"
    env = dict(os.environ, PODNET_STATE_ROOT=str(root), PODNET_CLUSTER=name, HOME=str(home))
    proc = subprocess.Popen([sys.executable, "-m", "podnet.cli.main", "controlplane",
                             "--store", "memory://", "--listen", "127.0.0.1:0"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = root / name / "kubeconfig"
    try:
        deadline = time.monotonic() + 30
        while not config.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert config.exists(), "the control plane wrote no kubeconfig"
        env["KUBECONFIG"] = str(config)
        yield Kube(env, config, root / name)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_kubeconfig_tls_and_token(kube: Kube) -> None:
    assert kube.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert (kube.state / "pki" / "apiserver.key").stat().st_mode & 0o777 == 0o600
    cfg = yaml.safe_load(kube.kubeconfig.read_text())
    server = cfg["clusters"][0]["cluster"]["server"]
    assert server.startswith("https://127.0.0.1:") and cfg["current-context"].startswith("podnet-")
    # the server's certificate verifies against the cluster CA alone; no token -> 401
    ctx = ssl.create_default_context(cafile=str(kube.state / "pki" / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server + "/api/v1/namespaces", context=ctx, timeout=10)
    assert e.value.code == 401
    with urllib.request.urlopen(server + "/healthz", context=ctx, timeout=10) as resp:
        assert resp.read() == b"ok"
    bad = kube("--token", "wrong", "get", "ns", check=False)
    assert bad.returncode != 0 and "must be logged in" in bad.stderr
    version = json.loads(kube("version", "-o", "json").stdout)
    assert version["serverVersion"]["major"] == "1"


def test_discovery_is_aggregated_and_complete(kube: Kube) -> None:
    verbose = kube("get", "ns", "-v=6")
    # kubectl 1.30+ asks /api and /apis for aggregated discovery: no per-group requests
    assert "/api?timeout" in verbose.stderr and "/apis/apps/v1?timeout" not in verbose.stderr
    rows = {r[0]: r for r in kube.rows("api-resources", "--no-headers")}
    assert rows["deployments"][1:] == ["deploy", "apps/v1", "true", "Deployment"]
    assert rows["namespaces"][1:] == ["ns", "v1", "false", "Namespace"]
    assert rows["networkpolicies"][2] == "networking.k8s.io/v1"
    assert rows["secrets"][1:] == ["v1", "true", "Secret"]  # no short name
    assert {"pods", "services", "endpointslices", "ingresses", "statefulsets"} <= set(rows)


def test_get_namespaces_prints_a_table(kube: Kube) -> None:
    rows = kube.rows("get", "ns")
    assert rows[0] == ["NAME", "STATUS", "AGE"]
    assert {"default", "kube-system"} <= {r[0] for r in rows[1:]}
    assert all(r[1] == "Active" for r in rows[1:])


def test_apply_get_label_patch_delete(kube: Kube) -> None:
    out = kube("apply", "-f", str(ROOT / "examples/app")).stdout
    assert "namespace/shop created" in out and "deployment.apps/backend created" in out
    assert "service/frontend created" in out
    assert "unchanged" in kube("apply", "-f", str(ROOT / "examples/app/30-frontend.yaml")).stdout

    pods = kube.rows("get", "pods", "-n", "shop")
    assert pods[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    backend = [r for r in pods[1:] if r[0].startswith("backend-")]
    assert len(backend) == 3 and all(r[1:4] == ["0/1", "Pending", "0"] for r in backend)

    svcs = kube.rows("get", "svc", "-A", "-o", "wide")
    assert svcs[0] == ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE",
                       "SELECTOR"]
    by_name = {(r[0], r[1]): r for r in svcs[1:]}
    assert by_name[("default", "kubernetes")][3] == "10.96.0.1"
    assert by_name[("shop", "frontend")][2] == "NodePort"
    assert by_name[("shop", "frontend")][5] == "80:30080/TCP"
    assert by_name[("shop", "frontend")][7] == "app=frontend"

    # re-apply a changed manifest: kubectl sends a strategic merge patch (lists by merge key)
    changed = (ROOT / "examples/app/20-backend.yaml").read_text() \
        .replace("image: podnet.dev/netexec", "image: podnet.dev/netexec:v2") \
        .replace("            - {name: metrics, containerPort: 9090}\n", "")
    assert "deployment.apps/backend configured" in kube("apply", "-f", "-", stdin=changed).stdout
    dep = json.loads(kube("get", "deploy", "backend", "-n", "shop", "-o", "json").stdout)
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "podnet.dev/netexec:v2" and c["envFrom"]
    assert [p["containerPort"] for p in c["ports"]] == [8080]
    assert not any(k.startswith("$") for k in json.dumps(dep).split('"'))

    assert "labeled" in kube("label", "svc", "backend", "-n", "shop", "team=blue").stdout
    assert [r[0] for r in kube.rows("get", "svc", "-n", "shop", "-l", "team=blue",
                                    "--no-headers")] == ["backend"]
    kube("patch", "deploy", "frontend", "-n", "shop", "--type", "merge",
         "-p", '{"spec":{"replicas":1}}')
    assert kube.rows("get", "deploy", "frontend", "-n", "shop", "--no-headers")[0][1] == "0/1"

    out = kube("delete", "-f", str(ROOT / "examples/app/50-policy.yaml")).stdout
    assert 'networkpolicy.networking.k8s.io "backend-from-frontend" deleted' in out
    gone = kube("get", "netpol", "-n", "shop", "-o", "name").stdout
    assert "backend-from-frontend" not in gone
    missing = kube("get", "svc", "nope", "-n", "shop", check=False)
    assert missing.returncode == 1 and 'services "nope" not found' in missing.stderr


def test_get_watch_streams_changes(kube: Kube) -> None:
    assert KUBECTL is not None
    ns = f"w{secrets.token_hex(3)}"
    kube("create", "-f", "-", stdin=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n")
    watcher = subprocess.Popen([KUBECTL, "get", "configmaps", "-n", ns, "-w"], env=kube.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        cm = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: seen, namespace: {ns}}}\n" \
             "data: {a: b, c: d}\n"
        kube("apply", "-f", "-", stdin=cm)
        assert watcher.stdout is not None
        lines = []
        for line in watcher.stdout:  # bounded by the test timeout
            lines.append(line.split())
            if line.split()[:1] == ["seen"]:
                break
        assert lines[0] == ["NAME", "DATA", "AGE"]
        assert lines[-1][:2] == ["seen", "2"]
    finally:
        watcher.kill()
        watcher.wait()
