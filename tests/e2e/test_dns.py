"""Cluster DNS in a live cluster: kube-dns at 10.96.0.10 served by 2 podnet DNS pods.

One 2-node cluster for the module. Queries are made the way applications make
them: ``dig``/``getent``/``curl`` inside pod namespaces (``ip netns exec`` binds
the pod's own /etc/resolv.conf), so every query crosses the node's service proxy
to one of the two DNS replicas.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clusterlib import Cluster, make_cluster

pytestmark = [pytest.mark.root, pytest.mark.slow]

WEB_IP = "10.96.200.10"
ZONE = "cluster.local"
APP = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: app}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: otherns}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: app}}
spec:
  clusterIP: {WEB_IP}
  selector: {{app: web}}
  ports: [{{name: http, port: 8080, targetPort: 8080}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: app}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: netexec, image: podnet.dev/netexec, ports: [{{containerPort: 8080}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: db, namespace: app}}
spec:
  clusterIP: None
  selector: {{app: db}}
  ports: [{{name: http, port: 8080}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db, namespace: app}}
spec:
  serviceName: db
  replicas: 2
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers: [{{name: netexec, image: podnet.dev/netexec, ports: [{{containerPort: 8080, name: http}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: ext, namespace: app}}
spec: {{type: ExternalName, externalName: web.app.svc.{ZONE}}}
"""
CLIENTS = """
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: app}
spec:
  containers: [{name: sleep, image: debian, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: otherns}
spec:
  containers: [{name: sleep, image: debian, command: [sleep, "3600"]}]
"""


def in_pod(c: Cluster, ns: str, pod: str, *cmd: str, timeout: float = 15) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", f"pn-{c.name}-{ns}.{pod}", *cmd],
                          capture_output=True, text=True, timeout=timeout)


def dig(c: Cluster, *args: str, ns: str = "app", pod: str = "client") -> list[str]:
    """``dig +short`` inside a pod through its resolv.conf (10.96.0.10)."""
    r = in_pod(c, ns, pod, "dig", "+short", "+time=2", "+tries=2", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.split("\n")[:-1]


def dig_status(c: Cluster, *args: str) -> str:
    r = in_pod(c, "app", "client", "dig", "+time=2", "+tries=2", *args)
    return r.stdout.split("status: ", 1)[1].split(",", 1)[0] if "status: " in r.stdout else r.stdout


def ready_dns_endpoints(c: Cluster) -> list[str]:
    out = []
    for es in c.get("endpointslices", "-n", "kube-system", "-l", "kubernetes.io/service-name=kube-dns")["items"]:
        out += [e["addresses"][0] for e in es.get("endpoints") or []
                if (e.get("conditions") or {}).get("ready")]
    return sorted(out)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    for c in make_cluster(tmp_path_factory, "--nodes", "2"):
        _deploy(c)
        yield c


def _deploy(c: Cluster) -> None:
    c.podnet("apply", "-f", "-", stdin=APP)
    c.wait("web endpoints", lambda: len(_ready_ips(c, "app", "web")) == 2, 60)
    c.podnet("apply", "-f", "-", stdin=CLIENTS)  # after the Services: they get WEB_* variables
    c.running_pods("app", 5)
    c.running_pods("otherns", 1)
    c.wait("2 ready DNS replicas", lambda: len(ready_dns_endpoints(c)) == 2, 60)


def _ready_ips(c: Cluster, ns: str, svc: str) -> list[str]:
    return sorted(e["addresses"][0] for es in c.get("endpointslices", "-n", ns,
                                                       "-l", f"kubernetes.io/service-name={svc}")["items"]
                  for e in es.get("endpoints") or [] if (e.get("conditions") or {}).get("ready"))


def pods_of(c: Cluster, ns: str, prefix: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["status"]["podIP"] for p in c.get("pods", "-n", ns)["items"]
            if p["metadata"]["name"].startswith(prefix) and (p.get("status") or {}).get("podIP")}


def test_kube_dns_is_installed_like_coredns(cluster: Cluster) -> None:
    c = cluster
    svc = c.get("svc", "kube-dns", "-n", "kube-system")
    assert svc["spec"]["clusterIP"] == "10.96.0.10"
    assert {(p["name"], p["protocol"], p["port"]) for p in svc["spec"]["ports"]} == \
        {("dns", "UDP", 53), ("dns-tcp", "TCP", 53)}
    dep = c.get("deploy", "coredns", "-n", "kube-system")
    assert dep["spec"]["replicas"] == 2 and dep["metadata"]["labels"]["podnet.dev/addon"] == "dns"
    pods = c.get("pods", "-n", "kube-system", "-l", "k8s-app=kube-dns")["items"]
    assert len(pods) == 2 and all(p["spec"]["dnsPolicy"] == "Default" for p in pods)
    # a DNS pod's own resolv.conf is the node's, never 10.96.0.10
    r = in_pod(c, "kube-system", pods[0]["metadata"]["name"], "cat", "/etc/resolv.conf")
    assert "10.96.0.10" not in r.stdout


def test_dig_from_a_pod_through_10_96_0_10(cluster: Cluster) -> None:
    c = cluster
    fq = f"web.app.svc.{ZONE}"
    assert dig(c, "+search", "web") == [WEB_IP]
    assert dig(c, fq) == [WEB_IP]
    assert dig(c, "@10.96.0.10", "+tcp", fq) == [WEB_IP]
    # headless: one A per ready pod; StatefulSet pods by name
    db = pods_of(c, "app", "db-")
    assert sorted(dig(c, f"db.app.svc.{ZONE}")) == sorted(db.values())
    assert dig(c, f"db-0.db.app.svc.{ZONE}") == [db["db-0"]]
    assert dig(c, "+search", "db-1.db") == [db["db-1"]]
    # SRV: ClusterIP and headless
    assert dig(c, "SRV", f"_http._tcp.{fq}") == [f"0 100 8080 {fq}."]
    assert sorted(dig(c, "SRV", f"_http._tcp.db.app.svc.{ZONE}")) == \
        [f"0 50 8080 db-{i}.db.app.svc.{ZONE}." for i in (0, 1)]
    # PTR of the ClusterIP and of a headless endpoint
    assert dig(c, "-x", WEB_IP) == [f"{fq}."]
    assert dig(c, "-x", db["db-0"]) == [f"db-0.db.app.svc.{ZONE}."]
    # ExternalName inside the zone: CNAME plus the target's A in the same answer
    assert dig(c, f"ext.app.svc.{ZONE}") == [f"{fq}.", WEB_IP]
    assert dig(c, "TXT", f"dns-version.{ZONE}") == ['"1.1.0"']
    assert dig_status(c, f"nosuch.app.svc.{ZONE}") == "NXDOMAIN"
    assert dig_status(c, "AAAA", fq) == "NOERROR"  # NODATA
    # outside the zone: forwarded to the node's resolvers; an answer (SERVFAIL when they are
    # unreachable from the pod network) comes back within dig's single 3 s try: never a hang
    assert dig_status(c, "+tries=1", "+time=3", "example.com.") in ("NOERROR", "NXDOMAIN", "SERVFAIL")


def test_search_path_with_getent_and_curl_by_name(cluster: Cluster) -> None:
    c = cluster
    r = in_pod(c, "app", "client", "getent", "hosts", "web")
    assert r.returncode == 0 and r.stdout.split()[:2] == [WEB_IP, f"web.app.svc.{ZONE}"], r.stdout
    r = in_pod(c, "otherns", "client", "getent", "hosts", "web.app")
    assert r.returncode == 0 and r.stdout.split()[:2] == [WEB_IP, f"web.app.svc.{ZONE}"], r.stdout
    assert in_pod(c, "otherns", "client", "getent", "hosts", "web").returncode == 2  # not in otherns
    r = in_pod(c, "app", "client", "getent", "hosts", "db-0.db")
    assert r.returncode == 0 and r.stdout.split()[0] == pods_of(c, "app", "db-")["db-0"]
    web_pods = set(pods_of(c, "app", "web-"))
    r = in_pod(c, "otherns", "client", "curl", "-s", "--max-time", "5", "http://web.app:8080/hostname")
    assert r.stdout in web_pods, r
    r = c.exec("client", "curl", "-s", "--max-time", "5", "http://web:8080/hostname", namespace="app")
    assert r.stdout in web_pods


def test_env_vars_and_dns_discovery_agree(cluster: Cluster) -> None:
    r = cluster.exec("client", "sh", "-c", 'echo "$WEB_SERVICE_HOST $WEB_SERVICE_PORT"; getent hosts web',
                     namespace="app")
    env_line, dns_line = r.stdout.splitlines()
    assert env_line == f"{WEB_IP} 8080"
    assert dns_line.split()[0] == WEB_IP


def test_podnet_dns_live_and_offline_agree(cluster: Cluster, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from podnet.cli.main import app

    c = cluster
    manifest = tmp_path / "app.yaml"
    manifest.write_text(APP)

    def podnet_dns(*args: str) -> tuple[int, Any]:
        r = CliRunner().invoke(app, ["dns", "-n", "app", *args, "-o", "json"], env=c.env)
        return r.exit_code, json.loads(r.output)

    cases = [("web", "A"), ("web.app", "A"), ("db-0.db", "A"), ("_http._tcp.web", "SRV"),
             ("ext", "A"), (WEB_IP, "PTR"), ("kube-dns.kube-system", "A"),
             (f"nosuch.app.svc.{ZONE}.", "A"), (f"dns-version.{ZONE}", "TXT")]
    for name, qtype in cases:
        (lcode, lj), (ocode, oj) = podnet_dns(name, qtype), podnet_dns(name, qtype, "-f", str(manifest))
        assert lcode == ocode, (name, lj, oj)
        assert lj["rcode"] == oj["rcode"], (name, lj, oj)
        assert [(a["name"], a["type"]) for a in lj["answers"]] == \
            [(a["name"], a["type"]) for a in oj["answers"]], (name, lj, oj)
        if name != "db-0.db":  # pod IPs differ between the cluster and the offline run
            assert lj["answers"] == oj["answers"], (name, lj, oj)
        assert lj["tried"] == oj["tried"], (name, lj, oj)
    r = c.podnet("dns", "-n", "app", "web")  # the real command line, dig-like output
    assert f"web.app.svc.{ZONE}.\t5\tIN\tA\t{WEB_IP}" in r.stdout
    assert c.podnet("dns", "-n", "app", f"nosuch.app.svc.{ZONE}.", check=False).returncode == 1


def _query_until(c: Cluster, seconds: float) -> tuple[int, int, list[str]]:
    """Query without pause for ``seconds``, as a pod's resolver would: a query that gets no
    answer is sent once more from a fresh socket after the retransmit interval (1 s here,
    resolv.conf ``timeout:1 attempts:2``). Returns (queries, retried, failures)."""
    fq = f"web.app.svc.{ZONE}"
    deadline, n, retried, failed = time.monotonic() + seconds, 0, 0, []
    while time.monotonic() < deadline:
        n += 1
        first = time.monotonic()
        r = in_pod(c, "app", "client", "dig", "+short", "+time=1", "+tries=1", fq)
        if r.returncode == 0 and r.stdout.split() == [WEB_IP]:
            continue
        retried += 1
        time.sleep(max(0.0, first + 1 - time.monotonic()))
        r = in_pod(c, "app", "client", "dig", "+short", "+time=1", "+tries=1", fq)
        if not (r.returncode == 0 and r.stdout.split() == [WEB_IP]):
            failed.append(f"{r.returncode}: {r.stdout}{r.stderr}".strip())
    return n, retried, failed


def test_dns_keeps_answering_while_a_replica_is_deleted(cluster: Cluster) -> None:
    c = cluster
    victim = c.get("pods", "-n", "kube-system", "-l", "k8s-app=kube-dns")["items"][0]["metadata"]["name"]
    c.podnet("delete", "pod", victim, "-n", "kube-system")
    n, retried, failed = _query_until(c, 8)  # covers the 5 s lame duck and the replacement
    print(f"replica deleted: {n} queries, {retried} retried, {len(failed)} failed")
    assert n > 20 and not failed, (n, retried, failed)
    c.wait("a replacement DNS replica", lambda: len(ready_dns_endpoints(c)) == 2 and victim not in
           {p["metadata"]["name"] for p in c.get("pods", "-n", "kube-system")["items"]}, 60)


def test_dns_keeps_answering_when_a_replica_process_is_killed(cluster: Cluster) -> None:
    c = cluster
    pod = c.get("pods", "-n", "kube-system", "-l", "k8s-app=kube-dns")["items"][0]
    netns = f"pn-{c.name}-kube-system.{pod['metadata']['name']}"
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split()
    argv = {int(p): Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0") for p in pids}
    server = [p for p, a in argv.items() if a[0] == sys.executable.encode() and b"podnet.dns.server" in a]
    assert server, pids
    os.kill(server[0], signal.SIGKILL)
    n, retried, failed = _query_until(c, 5)
    print(f"replica killed: {n} queries, {retried} retried, {len(failed)} failed")
    assert n > 10 and not failed, (n, retried, failed)

    def restarted() -> Any:
        p = c.get("pods", pod["metadata"]["name"], "-n", "kube-system")
        return p["status"]["containerStatuses"][0]["restartCount"] >= 1 and len(ready_dns_endpoints(c)) == 2
    c.wait("the killed replica restarted and ready again", restarted, 60)
