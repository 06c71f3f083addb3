"""The API server over a real unix socket (and TCP), checked at the HTTP/JSON level."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from apiserver_harness import (
    TOKEN,
    aio,
    configmap,
    deployment,
    netpol,
    node,
    pod,
    running,
    service,
)

from podnet.apiserver.client import Client
from podnet.apiserver.registry import Registry
from podnet.apiserver.server import serve
from podnet.store.base import StoreError
from podnet.store.memory import MemoryStore
from podnet.store.open import open_store

JSON = "application/json"


class Http:
    """Raw HTTP on the server's unix socket: status code and decoded JSON body."""

    def __init__(self, socket: Path) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(socket)))

    async def __call__(self, method: str, path: str, body: Any = None,
                       ctype: str = JSON, **params: str) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        async with self.session.request(method, "http://localhost" + path, data=data,
                                        params=params, headers={"Content-Type": ctype}) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text

    async def lines(self, path: str, **params: str) -> AsyncIterator[dict[str, Any]]:
        async with self.session.get("http://localhost" + path, params=params) as r:
            assert r.status == 200
            async for line in r.content:
                if line.strip():
                    yield json.loads(line)

    async def close(self) -> None:
        await self.session.close()


async def take(stream: AsyncIterator[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    out = []
    async for ev in stream:
        out.append(ev)
        if len(out) == n:
            break
    return out


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


@aio
async def test_crud_namespaced_cluster_scoped_and_groups() -> None:
    async with running() as r:
        http = Http(r.socket)
        try:
            code, cm = await http("POST", "/api/v1/namespaces/default/configmaps",
                                  configmap("c1", labels={"app": "a"}))
            assert code == 201 and cm["metadata"]["uid"] and cm["metadata"]["generation"] == 1
            assert cm["metadata"]["creationTimestamp"].endswith("Z")
            code, got = await http("GET", "/api/v1/namespaces/default/configmaps/c1")
            assert code == 200 and got == cm
            cm["data"] = {"k": "v2"}
            code, upd = await http("PUT", "/api/v1/namespaces/default/configmaps/c1", cm)
            assert code == 200 and upd["data"] == {"k": "v2"}
            assert int(upd["metadata"]["resourceVersion"]) > int(cm["metadata"]["resourceVersion"])
            # namespace filled from the path; a mismatching one is refused
            body = configmap("c2")
            del body["metadata"]["namespace"]
            code, c2 = await http("POST", "/api/v1/namespaces/kube-system/configmaps", body)
            assert code == 201 and c2["metadata"]["namespace"] == "kube-system"
            code, st = await http("POST", "/api/v1/namespaces/kube-system/configmaps",
                                  configmap("c3", "default"))
            assert code == 400 and st["reason"] == "BadRequest"
            code, lst = await http("GET", "/api/v1/configmaps")
            assert lst["kind"] == "ConfigMapList" and lst["apiVersion"] == "v1"
            assert int(lst["metadata"]["resourceVersion"]) >= int(c2["metadata"]["resourceVersion"])
            assert [(i["kind"], i["metadata"]["name"]) for i in lst["items"]] == [
                ("ConfigMap", "c1"), ("ConfigMap", "c2")]
            code, lst = await http("GET", "/api/v1/namespaces/default/configmaps",
                                   labelSelector="app in (a,b)")
            assert [i["metadata"]["name"] for i in lst["items"]] == ["c1"]
            code, lst = await http("GET", "/api/v1/configmaps", labelSelector="app!=a")
            assert [i["metadata"]["name"] for i in lst["items"]] == ["c2"]
            code, st = await http("GET", "/api/v1/configmaps", labelSelector="a b c")
            assert code == 400
            # cluster-scoped kinds
            code, n = await http("POST", "/api/v1/nodes", node("node-1"))
            assert code == 201 and "namespace" not in n["metadata"]
            code, n = await http("GET", "/api/v1/nodes/node-1")
            assert code == 200 and n["kind"] == "Node"
            code, ns = await http("GET", "/api/v1/namespaces/kube-system")
            assert code == 200 and ns["kind"] == "Namespace"
            # apps and networking groups
            code, d = await http("POST", "/apis/apps/v1/namespaces/default/deployments",
                                 deployment("web"))
            assert code == 201 and d["apiVersion"] == "apps/v1"
            code, lst = await http("GET", "/apis/apps/v1/deployments")
            assert lst["kind"] == "DeploymentList" and lst["items"][0]["metadata"]["name"] == "web"
            code, np = await http("POST",
                                  "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
                                  netpol("deny"))
            assert code == 201 and np["kind"] == "NetworkPolicy"
            code, _ = await http("GET", "/apis/apps/v1/namespaces/default/networkpolicies")
            assert code == 404  # wrong group
            code, out = await http("DELETE", "/api/v1/namespaces/default/configmaps/c1")
            assert code == 200 and out["metadata"]["name"] == "c1"
            code, st = await http("GET", "/api/v1/namespaces/default/configmaps/c1")
            assert code == 404 and st["kind"] == "Status" and st["reason"] == "NotFound"
            assert st["code"] == 404 and st["status"] == "Failure"
        finally:
            await http.close()


@aio
async def test_errors_are_kubernetes_status_objects() -> None:
    async with running() as r:
        http = Http(r.socket)
        try:
            _, cm = await http("POST", "/api/v1/namespaces/default/configmaps", configmap("c"))
            code, st = await http("POST", "/api/v1/namespaces/default/configmaps", configmap("c"))
            assert code == 409 and st["reason"] == "AlreadyExists"
            stale = {**cm, "data": {"a": "b"}}
            await http("PUT", "/api/v1/namespaces/default/configmaps/c", stale)
            code, st = await http("PUT", "/api/v1/namespaces/default/configmaps/c", stale)
            assert code == 409 and st["reason"] == "Conflict"
            code, st = await http("POST", "/api/v1/namespaces/default/services",
                                  service("bad", ports=[{"port": 0, "targetPort": 80}]))
            assert code == 422 and st["reason"] == "Invalid"
            assert st["details"]["name"] == "bad" and st["details"]["kind"] == "Service"
            cause = st["details"]["causes"][0]
            assert cause["field"] == "spec.ports[0].port"
            assert cause["reason"] == "FieldValueInvalid"
            assert st["message"].startswith('Service "bad" is invalid: spec.ports[0].port: ')
            code, st = await http("POST", "/api/v1/namespaces/nope/configmaps",
                                  configmap("x", "nope"))
            assert code == 404 and st["message"] == 'namespaces "nope" not found'
            code, st = await http("GET", "/api/v1/widgets")
            assert code == 404 and st["kind"] == "Status"
            code, st = await http("POST", "/api/v1/pods", pod("p"))
            assert code == 405
            code, st = await http("POST", "/api/v1/namespaces/default/configmaps", "not json",
                                  ctype=JSON)
            assert code == 400
        finally:
            await http.close()


@aio
async def test_status_subresource_dry_run_and_merge_patch() -> None:
    async with running() as r:
        http = Http(r.socket)
        try:
            _, p = await http("POST", "/api/v1/namespaces/default/pods", pod("p"))
            code, st = await http("PUT", "/api/v1/namespaces/default/pods/p/status",
                                  {**p, "status": {"phase": "Running"},
                                   "spec": {**p["spec"], "nodeName": "node-1"}})
            assert code == 200 and st["status"]["phase"] == "Running"
            assert "nodeName" not in st["spec"]
            st["status"] = {"phase": "Failed"}
            st["metadata"]["labels"]["x"] = "y"
            code, upd = await http("PUT", "/api/v1/namespaces/default/pods/p", st)
            assert upd["status"]["phase"] == "Running" and upd["metadata"]["labels"]["x"] == "y"
            rv = upd["metadata"]["resourceVersion"]
            # dry run: admission runs, nothing is written
            code, dry = await http("POST", "/api/v1/namespaces/default/services",
                                   service("web"), dryRun="All")
            assert code == 201 and dry["spec"]["clusterIP"]
            code, _ = await http("GET", "/api/v1/namespaces/default/services/web")
            assert code == 404
            code, _ = await http("DELETE", "/api/v1/namespaces/default/pods/p", dryRun="All")
            assert code == 200
            code, still = await http("GET", "/api/v1/namespaces/default/pods/p")
            assert code == 200 and still["metadata"]["resourceVersion"] == rv
            # merge patch: null removes a label
            code, patched = await http(
                "PATCH", "/api/v1/namespaces/default/pods/p",
                {"metadata": {"labels": {"x": None, "tier": "web"}}},
                ctype="application/merge-patch+json")
            assert code == 200 and patched["metadata"]["labels"] == {"app": "p", "tier": "web"}
            code, patched = await http(
                "PATCH", "/api/v1/namespaces/default/pods/p", {"metadata": {"labels": {"s": "1"}}},
                ctype="application/strategic-merge-patch+json")
            assert code == 200 and patched["metadata"]["labels"]["s"] == "1"
            code, patched = await http(
                "PATCH", "/api/v1/namespaces/default/pods/p/status",
                {"status": {"podIP": "10.244.1.5"}}, ctype="application/merge-patch+json")
            assert patched["status"] == {"phase": "Running", "podIP": "10.244.1.5"}
            code, st = await http("PATCH", "/api/v1/namespaces/default/pods/p",
                                  [{"op": "remove", "path": "/metadata/labels"}],
                                  ctype="application/json-patch+json")
            assert code == 415 and st["reason"] == "UnsupportedMediaType"
        finally:
            await http.close()


@aio
async def test_graceful_pod_delete_over_http() -> None:
    async with running() as r:
        http = Http(r.socket)
        try:
            await http("POST", "/api/v1/namespaces/default/pods", pod("p", node="node-1"))
            code, marked = await http("DELETE", "/api/v1/namespaces/default/pods/p",
                                      {"kind": "DeleteOptions", "gracePeriodSeconds": 5})
            assert code == 200 and marked["metadata"]["deletionGracePeriodSeconds"] == 5
            code, _ = await http("DELETE", "/api/v1/namespaces/default/pods/p",
                                 gracePeriodSeconds="0")
            code, _ = await http("GET", "/api/v1/namespaces/default/pods/p")
            assert code == 404
        finally:
            await http.close()


@aio
async def test_watch_streams_in_order_and_resumes() -> None:
    async with running() as r:
        http = Http(r.socket)
        try:
            _, lst = await http("GET", "/api/v1/namespaces/default/configmaps")
            rv0 = lst["metadata"]["resourceVersion"]
            stream = http.lines("/api/v1/namespaces/default/configmaps", watch="true",
                                resourceVersion=rv0)
            reader = asyncio.create_task(take(stream, 3))
            await asyncio.sleep(0.05)
            _, c = await http("POST", "/api/v1/namespaces/default/configmaps", configmap("a"))
            await http("PATCH", "/api/v1/namespaces/default/configmaps/a", {"data": {"k": "2"}},
                       ctype="application/merge-patch+json")
            await http("DELETE", "/api/v1/namespaces/default/configmaps/a")
            events = await reader
            assert summary(events) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
            assert events[0]["object"]["kind"] == "ConfigMap"
            # resume from the first event's version: only what came after, no replay
            resumed = await take(http.lines("/api/v1/namespaces/default/configmaps", watch="1",
                                            resourceVersion=c["metadata"]["resourceVersion"]), 2)
            assert summary(resumed) == [("MODIFIED", "a"), ("DELETED", "a")]
            # without a version: the current objects first, as ADDED
            await http("POST", "/api/v1/namespaces/default/configmaps", configmap("b"))
            initial = await take(http.lines("/api/v1/configmaps", watch="true"), 1)
            assert summary(initial) == [("ADDED", "b")]
        finally:
            await http.close()


@aio
async def test_sqlite_plain_watch_streams_stored_json_same_as_decoded(tmp_path: Path) -> None:
    """A plain watch on SQLite streams the logged JSON as is; it must equal what a decoded
    watch (a selector forces that path) sends: kinds, versions, DELETED included."""
    from podnet.store.sqlite import SQLiteStore

    async with running(SQLiteStore(tmp_path / "s.db", poll_interval=0.02)) as r:
        http = Http(r.socket)
        try:
            _, lst = await http("GET", "/api/v1/namespaces/default/configmaps")
            rv0 = lst["metadata"]["resourceVersion"]
            path = "/api/v1/namespaces/default/configmaps"
            plain = asyncio.create_task(take(http.lines(path, watch="1", resourceVersion=rv0), 3))
            decoded = asyncio.create_task(take(http.lines(path, watch="1", resourceVersion=rv0,
                                                          labelSelector="app"), 3))
            await asyncio.sleep(0.1)
            await http("POST", path, configmap("a", labels={"app": "x"}))
            await http("PATCH", f"{path}/a", {"data": {"k": "2"}},
                       ctype="application/merge-patch+json")
            await http("DELETE", f"{path}/a")
            a, b = await plain, await decoded
            assert a == b
            assert summary(a) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
            assert all(e["object"]["kind"] == "ConfigMap" and e["object"]["apiVersion"] == "v1"
                       for e in a)
            versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in a]
            assert versions == sorted(versions) and len(set(versions)) == 3
            # resuming from the last event's version delivers nothing old
            resumed = asyncio.create_task(take(http.lines(
                path, watch="1", resourceVersion=str(versions[-1])), 1))
            await asyncio.sleep(0.1)
            await http("POST", path, configmap("b"))
            assert summary(await resumed) == [("ADDED", "b")]
        finally:
            await http.close()


@aio
async def test_watch_too_old_version_answers_410_expired() -> None:
    async with running(store=MemoryStore(history=3)) as r:
        http = Http(r.socket)
        try:
            for i in range(6):
                await http("POST", "/api/v1/namespaces/default/configmaps", configmap(f"c{i}"))
            events = await take(http.lines("/api/v1/configmaps", watch="true",
                                           resourceVersion="1"), 1)
            assert events[0]["type"] == "ERROR"
            st = events[0]["object"]
            assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] == "Expired"
        finally:
            await http.close()


@aio
async def test_watch_bookmarks_and_a_closed_client_does_not_hurt_others() -> None:
    async with running(bookmark_interval=0.2) as r:
        http = Http(r.socket)
        try:
            _, lst = await http("GET", "/api/v1/configmaps")
            rv = lst["metadata"]["resourceVersion"]
            marks = await take(http.lines("/api/v1/configmaps", watch="true", resourceVersion=rv,
                                          allowWatchBookmarks="true"), 1)
            assert marks == [{"type": "BOOKMARK", "object": {
                "kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}}]
            # a watcher that goes away abruptly, and one that stays
            gone = Http(r.socket)
            quitter = asyncio.create_task(take(gone.lines("/api/v1/configmaps", watch="1",
                                                          resourceVersion=rv), 100))
            stayer = asyncio.create_task(take(http.lines("/api/v1/configmaps", watch="1",
                                                         resourceVersion=rv), 3))
            await asyncio.sleep(0.05)
            quitter.cancel()
            await gone.close()
            for i in range(3):
                await http("POST", "/api/v1/namespaces/default/configmaps", configmap(f"x{i}"))
            assert summary(await stayer) == [("ADDED", "x0"), ("ADDED", "x1"), ("ADDED", "x2")]
            code, _ = await http("GET", "/healthz")
            assert code == 200
        finally:
            await http.close()


@aio
async def test_socket_mode_discovery_and_tcp_token() -> None:
    async with running(tcp=True) as r:
        assert stat.S_IMODE(r.socket.stat().st_mode) == 0o600
        http = Http(r.socket)
        try:
            code, api = await http("GET", "/api")
            assert api["versions"] == ["v1"]
            code, apis = await http("GET", "/apis")
            names = {g["name"] for g in apis["groups"]}
            assert {"apps", "networking.k8s.io", "discovery.k8s.io"} <= names
            code, res = await http("GET", "/apis/apps/v1")
            assert {x["name"] for x in res["resources"]} >= {"deployments", "deployments/status"}
            code, version = await http("GET", "/version")
            assert code == 200 and version["major"] == "1"
        finally:
            await http.close()
        url = f"http://127.0.0.1:{r.server.tcp_port}"
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/api/v1/namespaces") as resp:
                assert resp.status == 401
                body = await resp.json()
                assert body["kind"] == "Status" and body["reason"] == "Unauthorized"
            async with s.get(url + "/api/v1/namespaces",
                             headers={"Authorization": "Bearer wrong"}) as resp:
                assert resp.status == 401
            async with s.get(url + "/api/v1/namespaces",
                             headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                assert resp.status == 200
                assert {i["metadata"]["name"] for i in (await resp.json())["items"]} == {
                    "default", "kube-system"}
            async with s.get(url + "/healthz") as resp:
                assert resp.status == 200 and await resp.text() == "ok"


@aio
async def test_sqlite_backend_and_socket_lifecycle() -> None:
    with tempfile.TemporaryDirectory(prefix="pnsql-", dir="/tmp") as tmp:
        store = open_store(f"sqlite://{tmp}/store.db")
        async with running(store=store) as r:
            created = await r.client.create("services", service("web", type="NodePort"))
            items, _ = await r.client.list("services")
            assert items == [created] and items[0]["spec"]["ports"][0]["nodePort"]
            # a second server on a socket that answers is refused
            with pytest.raises(StoreError, match="already listening"):
                await serve(r.registry, r.socket).start()
            sock: Path = r.socket
        assert not sock.exists()  # removed on stop
        # a stale socket file left by a crash is replaced
        stale = Path(tmp) / "stale.sock"
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(stale))
        s.close()
        reg = Registry(MemoryStore())
        async with serve(reg, stale), Client(socket_path=stale) as c:
            assert (await c.list("namespaces"))[0] == []


@aio
async def test_field_selector_and_delete_collection() -> None:
    async with running() as r:
        http = Http(r.socket)
        try:
            await http("POST", "/api/v1/namespaces/default/pods", pod("on1", node="node-1"))
            await http("POST", "/api/v1/namespaces/default/pods", pod("on2", node="node-2"))
            code, lst = await http("GET", "/api/v1/pods", fieldSelector="spec.nodeName=node-1")
            assert [i["metadata"]["name"] for i in lst["items"]] == ["on1"]
            code, lst = await http("GET", "/api/v1/pods", fieldSelector="metadata.name!=on1")
            assert [i["metadata"]["name"] for i in lst["items"]] == ["on2"]
            code, _ = await http("GET", "/api/v1/pods", fieldSelector="nonsense")
            assert code == 400
            code, _ = await http("GET", "/api/v1/pods", watch="1", resourceVersion="abc")
            assert code == 400
            events = await take(http.lines("/api/v1/pods", watch="1",
                                           fieldSelector="spec.nodeName=node-2"), 1)
            assert summary(events) == [("ADDED", "on2")]
            for i in range(3):
                await http("POST", "/api/v1/namespaces/default/configmaps",
                           configmap(f"c{i}", labels={"batch": "a" if i < 2 else "b"}))
            code, gone = await http("DELETE", "/api/v1/namespaces/default/configmaps",
                                    labelSelector="batch=a")
            assert code == 200 and [i["metadata"]["name"] for i in gone["items"]] == ["c0", "c1"]
            _, left = await http("GET", "/api/v1/namespaces/default/configmaps")
            assert [i["metadata"]["name"] for i in left["items"]] == ["c2"]
        finally:
            await http.close()
