"""`podnet explain` and `podnet analyze` offline over the example app: the service path and
the policy verdict come from the same planners as the data path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from podnet.explain import Objects, explain_connection
from podnet.offline import load

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "examples" / "app")


@pytest.fixture(scope="module")
def world() -> tuple[Objects, object]:
    s = load([APP])
    return Objects(s.pods, s.services, s.endpoint_slices, s.nodes, s.namespaces, s.network_policies), s.config


def test_pod_to_cluster_ip_lists_every_endpoint_and_allows(world: tuple[Objects, object]) -> None:
    objs, cfg = world
    r = explain_connection(objs, cfg, "shop/frontend", "shop/backend:8080")  # type: ignore[arg-type]
    assert r.service is not None and r.service.verdict == "dnat"
    backends = sorted(p["status"]["podIP"] for p in objs.pods if p["metadata"]["labels"]["app"] == "backend")
    assert sorted(e.ip for e in r.service.candidates) == backends
    assert all(e.port == 8080 for e in r.service.candidates)
    assert not r.service.snat and len(r.verdicts) == 3 and r.allowed
    assert "shop/backend-from-frontend" in r.text()


def test_headless_db_denied_from_frontend_allowed_from_backend(world: tuple[Objects, object]) -> None:
    objs, cfg = world
    denied = explain_connection(objs, cfg, "shop/frontend", "shop/db:5432")  # type: ignore[arg-type]
    assert denied.service is None and len(denied.verdicts) == 2 and not denied.allowed
    allowed = explain_connection(objs, cfg, "shop/backend", "shop/db:5432")  # type: ignore[arg-type]
    assert allowed.allowed and all(v.allowed for v in allowed.verdicts)


def test_external_nodeport_is_masqueraded(world: tuple[Objects, object]) -> None:
    objs, cfg = world
    node_ip = next(a["address"] for a in objs.nodes[0]["status"]["addresses"] if a["type"] == "InternalIP")
    r = explain_connection(objs, cfg, "external", f"{node_ip}:30080")  # type: ignore[arg-type]
    assert r.service is not None and r.service.frontend_kind == "NodePort" and r.service.snat
    bad = explain_connection(objs, cfg, "external", f"{node_ip}:30081")  # type: ignore[arg-type]
    assert bad.service is not None and bad.service.verdict == "not-a-service" and not bad.allowed


def test_unknown_names_are_errors(world: tuple[Objects, object]) -> None:
    objs, cfg = world
    with pytest.raises(ValueError, match="unknown source"):
        explain_connection(objs, cfg, "shop/nope", "shop/backend:8080")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="neither a pod nor a Service"):
        explain_connection(objs, cfg, "shop/frontend", "shop/nope:80")  # type: ignore[arg-type]


def podnet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "podnet.cli.main", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_analyze_and_explain_offline() -> None:
    r = podnet("analyze", "-f", APP, "--ports", "8080", "--protocols", "TCP", "-o", "json")
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)["entries"]
    assert {e["port"] for e in entries} == {8080}
    to_backend = [e for e in entries if "/backend-" in e["to"] and e["from"] != e["to"]]
    assert all(e["allowed"] == ("/frontend-" in e["from"]) for e in to_backend)
    table = podnet("analyze", "-f", APP, "--ports", "5432").stdout
    assert table.startswith("5432/TCP\n")
    ok = podnet("explain", "shop/backend", "shop/db:5432", "-f", APP)
    assert ok.returncode == 0 and "ALLOWED" in ok.stdout
    no = podnet("explain", "shop/frontend", "shop/db:5432", "-f", APP, "-o", "json")
    assert no.returncode == 1 and json.loads(no.stdout)["allowed"] is False
