"""The DNS server as a cluster addon: the kube-dns objects, probes, lame duck, the
upstream failure memo, the stub-resolver client and ``podnet dns`` offline."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import dnslib
import pytest
from test_dns_records import FIXTURE, make_zone
from test_dns_server import LO, ask, big_headless_zone, rcode, run, serving
from typer.testing import CliRunner

from podnet.api.config import ClusterConfig
from podnet.api.errors import check_documents
from podnet.api.loader import Document
from podnet.cli.main import app
from podnet.cluster import addons
from podnet.dns.daemon import parse_args
from podnet.dns.health import HealthServer
from podnet.dns.resolve import exchange, server_asker
from podnet.dns.zone import Zone


def test_addon_objects_are_valid_and_laid_out_like_kubeadms_coredns() -> None:
    cfg = ClusterConfig(name="demo", dns_domain="corp.local").with_nodes(2)
    objs = check_documents([Document(o, "addons", i, 1) for i, o in enumerate(addons.manifests(cfg))])
    svc, dep = objs
    assert (svc["kind"], svc["metadata"]["namespace"], svc["metadata"]["name"]) == \
        ("Service", "kube-system", "kube-dns")
    assert svc["spec"]["clusterIP"] == "10.96.0.10" == cfg.dns_service_ip
    assert svc["spec"]["selector"] == {"k8s-app": "kube-dns"}
    assert [(p["name"], p["protocol"], p["port"]) for p in svc["spec"]["ports"]] == \
        [("dns", "UDP", 53), ("dns-tcp", "TCP", 53)]
    assert (dep["kind"], dep["metadata"]["name"], dep["spec"]["replicas"]) == ("Deployment", "coredns", 2)
    tpl = dep["spec"]["template"]
    assert tpl["metadata"]["labels"]["k8s-app"] == "kube-dns"
    for o in (svc, dep, tpl):
        assert o["metadata"]["labels"]["podnet.dev/addon"] == "dns"
        assert "podnet" in o["metadata"]["annotations"]["podnet.dev/description"]
    spec = tpl["spec"]
    assert spec["dnsPolicy"] == "Default"
    (c,) = spec["containers"]
    assert c["securityContext"]["runAsUser"] == 0
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8181}
    assert c["command"][:3] == [sys.executable, "-m", "podnet.dns.server"]
    args = parse_args(c["command"][3:])
    assert args.listen == "0.0.0.0:53" and args.zone == "corp.local"
    assert args.apiserver_socket.endswith("/demo/apiserver.sock")
    assert args.health_listen == "0.0.0.0:8181" and args.lameduck > 0
    assert spec["terminationGracePeriodSeconds"] > args.lameduck


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{LO}:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_and_ready_endpoints() -> None:
    async def body() -> None:
        zone = Zone()
        health = HealthServer(f"{LO}:0", lambda: zone.synced)
        await health.start()
        try:
            assert await asyncio.to_thread(_get, health.port, "/health") == (200, "OK")
            assert (await asyncio.to_thread(_get, health.port, "/ready"))[0] == 503
            zone.mark_synced()
            assert await asyncio.to_thread(_get, health.port, "/ready") == (200, "OK")
            assert (await asyncio.to_thread(_get, health.port, "/nope"))[0] == 404
        finally:
            await health.close()

    run(body)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LO, 0))
        return int(s.getsockname()[1])


def test_lame_duck_keeps_answering_after_sigterm_but_reports_not_ready() -> None:
    hport = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "podnet.dns.server", "--listen", f"{LO}:0", "--no-upstream",
         "--manifests", str(FIXTURE), "--health-listen", f"{LO}:{hport}", "--lameduck", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line
        port = int(line.split()[3].rsplit(":", 1)[1])
        ask_ = server_asker(LO, port, timeout=2)
        assert _get(hport, "/ready") == (200, "OK")
        proc.send_signal(signal.SIGTERM)
        assert ask_("web.default.svc.cluster.local", "A").datas() == ["10.96.0.50"]
        assert _get(hport, "/ready")[0] == 503
        assert _get(hport, "/health") == (200, "OK")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_question_no_upstream_answered_is_not_forwarded_again_for_a_while() -> None:
    async def body() -> None:
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind((LO, 0))
        silent.setblocking(False)
        try:
            dead = (LO, silent.getsockname()[1])
            async with serving(make_zone(), upstreams=[dead], timeout=0.3) as srv:
                for _ in range(3):
                    assert rcode(await ask(srv.port, "example.com")) == "SERVFAIL"
                assert rcode(await ask(srv.port, "example.org")) == "SERVFAIL"
            seen = []
            while True:
                try:
                    seen.append(str(dnslib.DNSRecord.parse(silent.recv(4096)).q.qname))
                except BlockingIOError:
                    break
            assert seen == ["example.com.", "example.org."]
        finally:
            silent.close()

    run(body)


def test_stub_client_sockets_come_from_the_factory_and_truncation_falls_back_to_tcp() -> None:
    async def body() -> None:
        made: list[int] = []

        def make(family: int, kind: int) -> socket.socket:
            made.append(kind)
            return socket.socket(family, kind)

        async with serving(big_headless_zone(120)) as srv:
            q = dnslib.DNSRecord.question("big.default.svc.cluster.local", "A")
            r = await asyncio.to_thread(exchange, q, LO, srv.port, 2.0, 1, False, make)
            assert len(r.rr) == 120 and not r.header.tc
            assert made == [socket.SOCK_DGRAM, socket.SOCK_STREAM]

    run(body)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("dns") / "app.yaml"
    p.write_text("""
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.100.10, selector: {app: web}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None, selector: {app: db}, ports: [{name: pg, port: 5432}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: x, ports: [{containerPort: 5432, name: pg}]}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
""")
    return p


def podnet_dns(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["dns", *args])
    return r.exit_code, r.output


def test_podnet_dns_offline_applies_the_search_path_of_the_namespace(manifest: Path) -> None:
    code, out = podnet_dns("-n", "shop", "web", "-f", str(manifest))
    assert code == 0
    assert out.splitlines()[0] == ";; tried web.shop.svc.cluster.local.: NOERROR"
    assert "web.shop.svc.cluster.local.\t5\tIN\tA\t10.96.100.10" in out
    code, out = podnet_dns("web.shop", "-f", str(manifest), "-o", "json")
    doc = json.loads(out)
    assert code == 0 and doc["rcode"] == "NOERROR"
    assert doc["answers"] == [{"name": "web.shop.svc.cluster.local.", "type": "A", "ttl": 5,
                               "data": "10.96.100.10"}]
    assert [t["name"] for t in doc["tried"]] == ["web.shop.default.svc.cluster.local.",
                                                 "web.shop.svc.cluster.local."]
    code, out = podnet_dns("-n", "shop", "_pg._tcp.db", "SRV", "-f", str(manifest), "-o", "json")
    assert code == 0 and sorted(a["data"] for a in json.loads(out)["answers"]) == \
        ["0 50 5432 db-0.db.shop.svc.cluster.local.", "0 50 5432 db-1.db.shop.svc.cluster.local."]


def test_podnet_dns_offline_ptr_negative_answers_and_exit_codes(manifest: Path) -> None:
    code, out = podnet_dns("10.96.100.10", "-f", str(manifest))
    assert code == 0 and "PTR\tweb.shop.svc.cluster.local." in out
    code, out = podnet_dns("10.96.0.10", "-f", str(manifest))  # kube-dns: every cluster has it
    assert code == 0 and "PTR\tkube-dns.kube-system.svc.cluster.local." in out
    code, out = podnet_dns("-n", "shop", "nosuch.shop.svc.cluster.local.", "-f", str(manifest),
                           "-o", "json")
    doc = json.loads(out)
    assert code == 1 and doc["rcode"] == "NXDOMAIN"
    assert doc["authority"][0]["type"] == "SOA"
    code, out = podnet_dns("web.shop.svc.cluster.local.", "AAAA", "-f", str(manifest), "-o", "json")
    doc = json.loads(out)
    assert code == 0 and doc["rcode"] == "NOERROR" and doc["answers"] == []  # NODATA
    code, out = podnet_dns("example.com", "-f", str(manifest))
    assert code == 1 and "forwarded upstream in a live cluster" in out
    assert podnet_dns("web", "BOGUS", "-f", str(manifest))[0] == 2


def test_podnet_dns_live_names_a_missing_cluster(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "podnet.cli.main", "dns", "--cluster", "nosuch", "web"],
                       env={**os.environ, "PODNET_STATE_ROOT": str(tmp_path)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "cluster 'nosuch' does not exist" in r.stderr
