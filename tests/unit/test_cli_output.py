"""kubectl-style rendering and the client-side apply merge rules (pure parts of the CLI)."""

import datetime

import yaml

from podnet.api.kinds import lookup
from podnet.cli import output
from podnet.cli.resources import CliError, parse_meta_pairs

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def _svc(name: str, **spec: object) -> dict:
    return {"kind": "Service", "metadata": {"name": name, "namespace": "default",
            "creationTimestamp": "2026-01-01T11:00:00Z"}, "spec": spec}


def test_age() -> None:
    o = {"metadata": {"creationTimestamp": "2026-01-01T11:59:30Z"}}
    assert output.age(o, NOW) == "30s"
    o["metadata"]["creationTimestamp"] = "2026-01-01T11:55:00Z"
    assert output.age(o, NOW) == "5m"
    o["metadata"]["creationTimestamp"] = "2025-12-30T12:00:00Z"
    assert output.age(o, NOW) == "2d"


def test_service_table_columns() -> None:
    svc = _svc("web", type="NodePort", clusterIP="10.96.3.4",
               ports=[{"port": 80, "nodePort": 30080, "protocol": "TCP"}], selector={"app": "web"})
    text = output.table(lookup("svc"), [svc], wide=True)
    header, row = text.splitlines()
    assert header.split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert row.split()[:5] == ["web", "NodePort", "10.96.3.4", "<none>", "80:30080/TCP"]
    assert row.split()[-1] == "app=web"


def test_pod_table_all_namespaces() -> None:
    pod = {"metadata": {"name": "p", "namespace": "x"}, "spec": {"containers": [{"name": "c"}],
           "nodeName": "node-1"}, "status": {"phase": "Running", "podIP": "10.244.1.2",
           "containerStatuses": [{"ready": True, "restartCount": 2}]}}
    text = output.table(lookup("po"), [pod], wide=True, all_namespaces=True)
    header, row = text.splitlines()
    assert header.split()[:5] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS"]
    assert row.split()[:5] == ["x", "p", "1/1", "Running", "2"]
    assert "10.244.1.2" in row and "node-1" in row


def test_yaml_list_round_trips() -> None:
    svc = _svc("web", ports=[{"port": 80}], someUnknownField={"kept": True})
    doc = yaml.safe_load(output.to_yaml(output.as_list(lookup("svc"), [svc])))
    assert doc["kind"] == "List"
    assert doc["items"][0]["spec"]["someUnknownField"] == {"kept": True}
    assert doc["items"][0]["apiVersion"] == "v1"
    assert output.names(lookup("netpol"), [{"metadata": {"name": "p"}}]) == \
        "networkpolicy.networking.k8s.io/p"


def test_reapply_keeps_allocations_and_reports_unchanged() -> None:
    import asyncio

    from podnet.apiserver.apply import apply_all
    from podnet.apiserver.registry import Registry
    from podnet.store.memory import MemoryStore

    async def run() -> None:
        reg = Registry(MemoryStore())
        await reg.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": "default"}})
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"type": "NodePort", "selector": {"a": "b"}, "ports": [{"port": 80}]}}
        assert await apply_all(reg, [svc]) == ["service/web created"]
        first = await reg.get("services", "default", "web")
        assert await apply_all(reg, [svc]) == ["service/web unchanged"]
        relabelled = {**svc, "metadata": {**svc["metadata"], "labels": {"v": "2"}}}
        assert await apply_all(reg, [relabelled]) == ["service/web configured"]
        now = await reg.get("services", "default", "web")
        assert now["spec"]["clusterIP"] == first["spec"]["clusterIP"]
        assert now["spec"]["ports"][0]["nodePort"] == first["spec"]["ports"][0]["nodePort"]
        assert now["metadata"]["uid"] == first["metadata"]["uid"]
        assert now["metadata"]["labels"] == {"v": "2"}
        assert await apply_all(reg, [svc]) == ["service/web configured"]  # the label goes again
        assert "labels" not in (await reg.get("services", "default", "web"))["metadata"]

    asyncio.run(run())


def test_meta_pairs() -> None:
    assert parse_meta_pairs(["a=1", "b-", "c="]) == ({"a": "1", "c": ""}, ["b"])
    try:
        parse_meta_pairs(["oops"])
    except CliError as e:
        assert "key=value" in str(e)
    else:
        raise AssertionError("expected CliError")
