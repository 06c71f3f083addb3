"""The pure parts behind kubectl support: strategic merge patch, certificates, Table answers,
content negotiation, aggregated discovery and the OpenAPI v3 index."""

from __future__ import annotations

import json
import ssl
import tempfile
from pathlib import Path

import aiohttp
import pytest
from apiserver_harness import TOKEN, aio, seeded
from cryptography import x509

from podnet.api.kinds import lookup
from podnet.apiserver import discovery, mediatypes, openapi, strategic, table, tls
from podnet.apiserver.client import Client
from podnet.apiserver.server import serve

DEPLOY = {
    "kind": "Deployment",
    "metadata": {"name": "d", "finalizers": ["a"]},
    "spec": {"replicas": 3, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
             "template": {"spec": {"containers": [
                 {"name": "api", "image": "x:1", "env": [{"name": "A", "value": "1"}],
                  "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 90}]},
                 {"name": "side", "image": "s:1"}]}}},
}


def containers(obj: dict) -> list[dict]:  # type: ignore[type-arg]
    return obj["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


def test_strategic_patch_merges_lists_by_key_and_honours_directives() -> None:
    # what kubectl apply sends after an image change and a removed port
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "api"}, {"name": "side"}],
        "containers": [{"name": "api", "image": "x:2",
                        "$setElementOrder/ports": [{"containerPort": 80}],
                        "ports": [{"containerPort": 90, "$patch": "delete"}]}]}}}}
    out = strategic.apply(DEPLOY, patch, "Deployment")
    api, side = containers(out)
    assert api["image"] == "x:2" and api["env"] == [{"name": "A", "value": "1"}]
    assert api["ports"] == [{"containerPort": 80, "name": "http"}]
    assert side == {"name": "side", "image": "s:1"}
    assert "$setElementOrder/containers" not in json.dumps(out)
    assert containers(DEPLOY)[0]["image"] == "x:1"  # input untouched

    # a new element is appended; $setElementOrder puts it first
    added = strategic.apply(DEPLOY, {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "new"}, {"name": "api"}, {"name": "side"}],
        "containers": [{"name": "new", "image": "n"}]}}}}, "Deployment")
    assert [c["name"] for c in containers(added)] == ["new", "api", "side"]

    # $retainKeys clears the other keys of a union; $patch: replace replaces a map whole
    recreate = strategic.apply(DEPLOY, {"spec": {"strategy": {
        "$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}, "Deployment")
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}
    replaced = strategic.apply(DEPLOY, {"spec": {"template": {"$patch": "replace", "spec": {}}}},
                               "Deployment")
    assert replaced["spec"]["template"] == {"spec": {}}

    # primitive merge list (finalizers): union, and $deleteFromPrimitiveList
    fin = strategic.apply(DEPLOY, {"metadata": {"finalizers": ["b"]}}, "Deployment")
    assert fin["metadata"]["finalizers"] == ["a", "b"]
    fin = strategic.apply(fin, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
                          "Deployment")
    assert fin["metadata"]["finalizers"] == ["b"]


def test_strategic_patch_list_keys_depend_on_where_the_list_is() -> None:
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "name": "a"}, {"port": 81}]}}
    out = strategic.apply(svc, {"spec": {"ports": [{"port": 81, "name": "b"}]}}, "Service")
    assert out["spec"]["ports"] == [{"port": 80, "name": "a"}, {"port": 81, "name": "b"}]
    # NetworkPolicy ports have no merge key: replaced, as in Kubernetes
    pol = {"spec": {"ingress": [{"ports": [{"port": 80}]}]}}
    out = strategic.apply(pol, {"spec": {"ingress": [{"ports": [{"port": 81}]}]}},
                          "NetworkPolicy")
    assert out["spec"]["ingress"] == [{"ports": [{"port": 81}]}]


def test_pki_is_made_once_and_reused(tmp_path: Path) -> None:
    pki = tls.ensure(tmp_path / "pki", "c1")
    ca, cert = pki.ca_cert.read_bytes(), pki.cert.read_bytes()
    assert pki.key.stat().st_mode & 0o777 == 0o600 and pki.ca_key.stat().st_mode & 0o777 == 0o600
    assert tls.ensure(tmp_path / "pki", "c1").cert.read_bytes() == cert
    # a new name wanted: a new serving certificate from the same CA
    again = tls.ensure(tmp_path / "pki", "c1", ips=("127.0.0.1", "10.96.0.1"))
    assert again.ca_cert.read_bytes() == ca and again.cert.read_bytes() != cert
    parsed = x509.load_pem_x509_certificate(again.cert.read_bytes())
    sans = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(i) for i in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.96.0.1"}
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    assert isinstance(again.server_context(), ssl.SSLContext)


def test_table_columns_and_rows() -> None:
    pod = {"metadata": {"name": "p", "namespace": "n", "creationTimestamp": "2024-01-01T00:00:00Z"},
           "spec": {"containers": [{"name": "c"}], "nodeName": "node-1"},
           "status": {"phase": "Running", "podIP": "10.244.1.5",
                      "containerStatuses": [{"ready": True, "restartCount": 2}]}}
    doc = table.table(lookup("pods"), [pod], "7")
    names = [(c["name"], c["priority"]) for c in doc["columnDefinitions"]]
    assert names == [("Name", 0), ("READY", 0), ("STATUS", 0), ("RESTARTS", 0), ("Age", 0),
                     ("IP", 1), ("NODE", 1)]
    (row,) = doc["rows"]
    assert row["cells"][:4] == ["p", "1/1", "Running", "2"] and row["cells"][5:] == [
        "10.244.1.5", "node-1"]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["namespace"] == "n"
    render = table.watch_renderer(lookup("pods"), "v1", "None")
    assert render(pod)["columnDefinitions"] and not render(pod)["columnDefinitions"]


def test_accept_negotiation_and_aggregated_discovery() -> None:
    kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    assert table.wanted(kubectl_get) == "v1"
    assert table.wanted("application/json") is None
    assert table.wanted("application/json, application/json;as=Table;v=v1;g=meta.k8s.io") is None
    accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
              "application/json")
    found = discovery.negotiate("/apis", accept)
    assert found is not None
    doc, ctype = found
    assert ctype == mediatypes.content_type("APIGroupDiscoveryList", "apidiscovery.k8s.io", "v2")
    groups = {g["metadata"]["name"]: g for g in doc["items"]}
    apps = {r["resource"]: r for r in groups["apps"]["versions"][0]["resources"]}
    assert apps["deployments"]["scope"] == "Namespaced"
    assert apps["deployments"]["shortNames"] == ["deploy"]
    assert apps["deployments"]["subresources"][0]["subresource"] == "status"
    legacy = discovery.negotiate("/apis", "application/json")
    assert legacy is not None and legacy[0]["kind"] == "APIGroupList"


def test_openapi_v3_tells_kubectl_the_server_validates() -> None:
    index = json.loads(openapi.index())
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    body = openapi.answer("/openapi/v3/apis/apps/v1")
    assert body is not None
    doc = json.loads(body)
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1",
                                                        "kind": "Deployment"}
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert openapi.answer("/api/v1/pods") is None


@aio
async def test_https_listener_and_client_with_the_cluster_ca() -> None:
    with tempfile.TemporaryDirectory(prefix="pntls-", dir="/tmp") as tmp:
        pki = tls.ensure(Path(tmp) / "pki", "t")
        reg = await seeded()
        server = serve(reg, Path(tmp) / "api.sock", ("127.0.0.1", 0), TOKEN,
                       tls=pki.server_context())
        try:
            async with server:
                url = f"https://127.0.0.1:{server.tcp_port}"
                async with Client(url=url, token=TOKEN, ca_file=pki.ca_cert) as c:
                    items, _ = await c.list("namespaces")
                    assert {"default", "kube-system"} <= {i["metadata"]["name"] for i in items}
                async with Client(url=url, token=TOKEN) as untrusting:  # system CAs only
                    with pytest.raises(aiohttp.ClientConnectorCertificateError):
                        await untrusting.list("namespaces")
        finally:
            await reg.close()
