"""Pods as a developer uses them: programs, env, localhost between containers, probes,
restarts, logs; and the agent's robustness (kill -9, exhausted pod range)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clusterlib import Cluster, make_cluster

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cfg = tmp_path_factory.mktemp("cfg") / "cluster.yaml"
    # node-2's pod range holds only 5 pods (a /29 less the gateway): exhaustion is testable;
    # node-3 takes at most 2 pods (maxPods, the same refusal as a full bridge's 1023 ports)
    cfg.write_text("network: flat\nnodes:\n- name: node-1\n- name: node-2\n  podCIDR: 10.244.2.0/29\n"
                   "- name: node-3\n  maxPods: 2\n")
    yield from make_cluster(tmp_path_factory, "-f", str(cfg), "--node-monitor-grace-period", "6")


def pod_named(c: Cluster, name: str, ns: str = "default") -> dict[str, Any]:
    return c.get("pods", name, "-n", ns)  # type: ignore[no-any-return]


def wait_running(c: Cluster, name: str, ready: bool = True) -> dict[str, Any]:
    def ok() -> dict[str, Any] | None:
        p = pod_named(c, name)
        st = p.get("status") or {}
        is_ready = any(x["type"] == "Ready" and x["status"] == "True" for x in st.get("conditions") or [])
        return p if st.get("phase") == "Running" and (is_ready or not ready) else None
    result: dict[str, Any] = c.wait(f"pod {name} running", ok, 60)
    return result


def test_two_containers_share_localhost_and_env_lists_only_older_services(cluster: Cluster) -> None:
    c = cluster
    c.podnet("apply", "-f", "-", stdin="""
apiVersion: v1
kind: Service
metadata: {name: early}
spec: {selector: {app: none}, ports: [{name: web, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {COLOR: blue}
---
apiVersion: v1
kind: Pod
metadata: {name: duo}
spec:
  containers:
  - name: server
    image: podnet.dev/netexec
    ports: [{containerPort: 8080}]
  - name: client
    image: busybox
    command: ["sh", "-c", "while true; do curl -s http://127.0.0.1:8080/hostname > /tmp/podnet-duo-$(id -u).out; echo tick; sleep 1; done"]
    envFrom: [{configMapRef: {name: settings}}]
    env: [{name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
""")
    pod = wait_running(c, "duo")
    c.podnet("apply", "-f", "-", stdin="""
apiVersion: v1
kind: Service
metadata: {name: late}
spec: {selector: {app: none}, ports: [{port: 81}]}
""")
    env = c.podnet("exec", "duo", "-c", "client", "--", "env").stdout
    assert "EARLY_SERVICE_HOST=" in env and "EARLY_SERVICE_PORT_WEB=80" in env
    assert "KUBERNETES_SERVICE_HOST=10.96.0.1" in env
    assert "LATE_SERVICE_HOST" not in env
    assert "COLOR=blue" in env and f"MY_IP={pod['status']['podIP']}" in env
    # the client container reached the server container over localhost
    out = c.wait("client output", lambda: c.podnet("exec", "duo", "-c", "client", "--", "cat",
                                                    "/tmp/podnet-duo-65534.out", check=False).stdout, 20)
    assert out == "duo"
    logs = c.podnet("logs", "duo", "-c", "client").stdout
    assert "tick" in logs


def test_readiness_gates_endpoints_and_liveness_restarts(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    flag = tmp_path / "ready"
    os.chmod(tmp_path, 0o777)
    c.podnet("apply", "-f", "-", stdin=f"""
apiVersion: v1
kind: Pod
metadata: {{name: gated, labels: {{app: gated}}}}
spec:
  containers:
  - name: web
    image: podnet.dev/netexec
    ports: [{{containerPort: 8080}}]
    readinessProbe:
      exec: {{command: ["test", "-e", "{flag}"]}}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {{name: gated}}
spec: {{selector: {{app: gated}}, ports: [{{port: 80, targetPort: 8080}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: flaky}}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
    livenessProbe:
      tcpSocket: {{port: 9999}}
      periodSeconds: 1
      failureThreshold: 2
""")
    wait_running(c, "gated", ready=False)

    def endpoint_ready() -> bool | None:
        items = c.get("endpointslices", "-l", "kubernetes.io/service-name=gated")["items"]
        eps = [e for s in items for e in s.get("endpoints") or []]
        return eps[0]["conditions"]["ready"] if eps else None

    time.sleep(2)
    assert endpoint_ready() is False
    flag.write_text("ok")
    c.wait("endpoint ready", lambda: endpoint_ready() is True, 20)
    flag.unlink()
    c.wait("endpoint not ready again", lambda: endpoint_ready() is False, 20)

    def restarted() -> int | None:
        st = pod_named(c, "flaky").get("status") or {}
        counts = [cs.get("restartCount", 0) for cs in st.get("containerStatuses") or []]
        return counts[0] if counts and counts[0] >= 1 else None

    assert c.wait("liveness restart", restarted, 40) >= 1


def test_agent_kill_9_keeps_pods_and_duplicates_nothing(cluster: Cluster) -> None:
    c = cluster
    c.podnet("apply", "-f", "-", stdin="""
apiVersion: v1
kind: Pod
metadata: {name: steady}
spec:
  nodeName: node-1
  containers:
  - {name: web, image: podnet.dev/netexec, ports: [{containerPort: 8080}]}
""")
    before = wait_running(c, "steady")
    ns = f"pn-{c.name}-default.steady"
    pid_file = c.root / c.name / "nodes" / "node-1" / "agent.pid"
    old_pid = int(pid_file.read_text())
    os.kill(old_pid, signal.SIGKILL)
    c.wait("agent restarted", lambda: pid_file.exists() and int(pid_file.read_text()) != old_pid, 20)
    time.sleep(3)
    after = pod_named(c, "steady")
    assert after["status"]["podIP"] == before["status"]["podIP"]
    import subprocess
    r = subprocess.run(["ip", "netns", "exec", ns, "curl", "-s", "--max-time", "3",
                        f"http://{before['status']['podIP']}:8080/hostname"], capture_output=True, text=True)
    assert r.stdout == "steady"
    links = subprocess.run(["ip", "-n", f"pn-{c.name}-node-1", "-o", "link", "show", "master", "cni0"],
                           capture_output=True, text=True).stdout.splitlines()
    running = [p for p in c.get("pods", "-A")["items"] if p["spec"].get("nodeName") == "node-1"
               and p["status"].get("podIP")]
    assert len(links) == len(running), (links, [p["metadata"]["name"] for p in running])


def pin_pods(c: Cluster, prefix: str, node: str, count: int, what: str
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Bind ``count`` built-in-server pods ``<prefix>-<i>`` to ``node`` (no scheduler) and wait
    until each runs or was refused a sandbox (some must be); (pods on ``node`` with an IP before,
    the new pods)."""
    already = [p for p in c.get("pods", "-A")["items"]
               if p["spec"].get("nodeName") == node and p["status"].get("podIP")]
    pods = "\n---\n".join(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {prefix}-{i}}}\nspec:\n  nodeName: {node}\n"
        f"  containers: [{{name: c, image: x, ports: [{{containerPort: 8080}}]}}]" for i in range(count))
    c.podnet("apply", "-f", "-", stdin=pods)

    def settled() -> list[dict[str, Any]] | None:
        items = [p for p in c.get("pods")["items"] if p["metadata"]["name"].startswith(f"{prefix}-")]
        running = [p for p in items if p["status"].get("podIP")]
        refused = [p for p in items if any(x.get("reason") == "FailedCreatePodSandBox"
                                           for x in p["status"].get("conditions") or [])]
        return items if len(running) + len(refused) == count and refused else None

    return already, c.wait(what, settled, 60)


def test_exhausted_pod_range_leaves_pod_pending_and_leaks_nothing(cluster: Cluster) -> None:
    c = cluster
    already, items = pin_pods(c, "fill", "node-2", 7, "range exhausted")
    pending = [p for p in items if not p["status"].get("podIP")]
    assert len(pending) == 7 - (5 - len(already))
    msg = json.dumps(pending[0]["status"]["conditions"])
    assert "no IP addresses available in range set: 10.244.2.1-10.244.2.6" in msg
    assert pending[0]["status"]["phase"] == "Pending"
    events = [e for e in c.get("events")["items"] if e["reason"] == "FailedCreatePodSandBox"]
    assert {e["involvedObject"]["name"] for e in events} >= {p["metadata"]["name"] for p in pending}
    import subprocess
    def no_sandbox() -> bool:  # a pending pod is retried with back-off; between tries: nothing
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return all(f"pn-{c.name}-default.{p['metadata']['name']}" not in names for p in pending)
    c.wait("no sandbox left for the pending pods", no_sandbox, 20)
    links = subprocess.run(["ip", "-n", f"pn-{c.name}-node-2", "-o", "link", "show", "master", "cni0"],
                           capture_output=True, text=True).stdout.splitlines()
    assert len(links) == 5  # every address of the /29 but the gateway is in use, none leaked


def test_a_full_node_refuses_more_pods_with_the_reason(cluster: Cluster) -> None:
    """A node at its pod limit (maxPods here; 1023 bridge ports by default) leaves further pods
    bound to it Pending with a condition naming the limit, and advertises the limit."""
    c = cluster
    assert c.get("nodes", "node-3")["status"]["allocatable"]["pods"] == "2"
    assert c.get("nodes", "node-1")["status"]["allocatable"]["pods"] == "1023"
    already, items = pin_pods(c, "full", "node-3", 3, "node-3 full")
    refused = [p for p in items if not p["status"].get("podIP")]
    assert len(refused) == 3 - (2 - len(already))
    assert refused[0]["status"]["phase"] == "Pending"
    assert "node node-3 already runs 2 pods: its maxPods" in json.dumps(refused[0]["status"]["conditions"])
    c.podnet("delete", "pods", *[p["metadata"]["name"] for p in items])


def test_silent_node_goes_not_ready_and_its_endpoints_too(cluster: Cluster) -> None:
    c = cluster
    c.podnet("apply", "-f", "-", stdin="""
apiVersion: v1
kind: Pod
metadata: {name: lonely, labels: {app: lonely}}
spec:
  nodeName: node-1
  containers: [{name: web, image: x, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: lonely}
spec: {selector: {app: lonely}, ports: [{port: 80, targetPort: 8080}]}
""")
    wait_running(c, "lonely")
    sup = int((c.root / c.name / "supervisor.pid").read_text())
    agent = int((c.root / c.name / "nodes" / "node-1" / "agent.pid").read_text())
    os.kill(sup, signal.SIGSTOP)  # keep the supervisor from restarting the agent
    os.kill(agent, signal.SIGSTOP)
    try:
        def node_not_ready() -> bool:
            node = c.get("nodes", "node-1")
            return any(x["type"] == "Ready" and x["status"] != "True" for x in node["status"]["conditions"])
        c.wait("node-1 NotReady", node_not_ready, 30)

        def ep_not_ready() -> bool:
            items = c.get("endpointslices", "-l", "kubernetes.io/service-name=lonely")["items"]
            eps = [e for s in items for e in s.get("endpoints") or []]
            return bool(eps) and eps[0]["conditions"]["ready"] is False
        c.wait("endpoint not ready", ep_not_ready, 20)
    finally:
        os.kill(agent, signal.SIGCONT)
        os.kill(sup, signal.SIGCONT)
    c.wait("node-1 Ready again", lambda: any(
        x["type"] == "Ready" and x["status"] == "True" for x in c.get("nodes", "node-1")["status"]["conditions"]), 30)
