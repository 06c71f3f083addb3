"""kubectl-style rendering and the client-side apply merge rules (pure parts of the CLI)."""

import datetime

import yaml

from podnet.api.kinds import lookup
from podnet.apiserver.apply import merge_for_update
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


def test_merge_keeps_allocations_identity_and_status() -> None:
    old = _svc("web", type="NodePort", clusterIP="10.96.0.42", clusterIPs=["10.96.0.42"],
               ports=[{"port": 80, "protocol": "TCP", "nodePort": 31000}])
    old["metadata"].update(uid="u1", resourceVersion="7")
    old["status"] = {"loadBalancer": {}}
    new = _svc("web", type="NodePort", ports=[{"port": 80, "protocol": "TCP"}])
    new["metadata"]["labels"] = {"v": "2"}
    merged = merge_for_update(new, old)
    assert merged["spec"]["clusterIP"] == "10.96.0.42"
    assert merged["spec"]["ports"][0]["nodePort"] == 31000
    assert merged["metadata"]["uid"] == "u1" and merged["metadata"]["resourceVersion"] == "7"
    assert merged["metadata"]["labels"] == {"v": "2"}
    assert merged["status"] == {"loadBalancer": {}}


def test_meta_pairs() -> None:
    assert parse_meta_pairs(["a=1", "b-", "c="]) == ({"a": "1", "c": ""}, ["b"])
    try:
        parse_meta_pairs(["oops"])
    except CliError as e:
        assert "key=value" in str(e)
    else:
        raise AssertionError("expected CliError")
