"""kubectl drives a whole podnet cluster with the kubeconfig `podnet up` leaves behind.

One node: kubectl sees it Ready, applies a Deployment, sees its pods Running with their
IPs; after a kill -9 of the control plane the supervisor restarts it on the same port
with the same CA, and the same kubeconfig keeps working.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from clusterlib import cluster_context

pytestmark = [pytest.mark.root, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

ECHO = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - {name: netexec, image: podnet.dev/netexec, ports: [{containerPort: 8080}]}
"""


def test_kubectl_with_the_written_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> None:
    with cluster_context(tmp_path_factory, "--nodes", "1") as c:
        sdir = c.root / c.name
        kubeconfig = sdir / "kubeconfig"
        env = dict(c.env, KUBECONFIG=str(kubeconfig), HOME=str(tmp_path_factory.mktemp("home")))

        def kubectl(*args: str, stdin: str | None = None, check: bool = True
                    ) -> subprocess.CompletedProcess[str]:
            r = subprocess.run(["kubectl", *args], env=env, input=stdin, capture_output=True,
                               text=True, timeout=60)
            if check:
                assert r.returncode == 0, f"kubectl {args}: {r.stdout}\n{r.stderr}"
            return r

        port = json.loads((sdir / "cluster.json").read_text())["options"]["apiserver_port"]
        before = kubeconfig.read_text()
        assert f"https://127.0.0.1:{port}" in before

        nodes = [line.split() for line in kubectl("get", "nodes").stdout.splitlines()]
        assert nodes[0][:2] == ["NAME", "STATUS"] and nodes[1][:2] == ["node-1", "Ready"]
        kubectl("apply", "-f", "-", stdin=ECHO)

        def running() -> list[list[str]] | None:
            rows = [line.split() for line in
                    kubectl("get", "pods", "-o", "wide", "--no-headers").stdout.splitlines()]
            ok = [r for r in rows if r[0].startswith("echo-") and r[1:3] == ["1/1", "Running"]]
            return ok if len(ok) == 2 else None

        pods = c.wait("2 echo pods Running (kubectl)", running, 90)
        assert all(r[5].startswith("10.244.") and r[6] == "node-1" for r in pods)

        # kill -9 the control plane: the supervisor restarts it on the same port, same CA
        pid = int((sdir / "controlplane.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)

        def answers() -> bool:
            return kubectl("get", "deploy", "echo", "--no-headers", check=False).returncode == 0

        time.sleep(0.5)
        c.wait("kubectl answered by the restarted control plane", answers, 60)
        assert kubeconfig.read_text() == before
