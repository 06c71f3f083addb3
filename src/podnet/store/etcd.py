"""etcd v3 Store: objects under ``/registry/<resource>/<namespace>/<name>`` like Kubernetes.

The key-value calls go through ``etcd3gw`` (etcd's JSON gRPC gateway,
``http://host:port/v3/...``); they are blocking, so each runs in a worker thread
(``asyncio.to_thread``) with one client session per thread. The value is the
object's JSON without ``resourceVersion``: that is always the key's etcd
``mod_revision``, set on read, exactly as the Kubernetes API server does.

* create: a transaction ``create_revision == 0`` → put (else AlreadyExists).
* update / update_status: read, apply the shared metadata rules, then a
  transaction ``mod_revision == <read>`` → put; if someone wrote in between, a
  stale incoming version is a Conflict and an unversioned update retries.
* delete: delete with ``prev_kv``; the returned object carries the delete's
  revision. With a version, the delete is guarded by ``mod_revision``.
* list: ranges over the prefix (paged, pinned to one revision), returns that revision.
* watch: etcd3gw's watcher hides compaction cancels, so the watch speaks to the
  same gateway's ``/v3/watch`` streaming endpoint with aiohttp instead: from
  ``rv + 1`` with ``prev_kv``; a compacted start revision arrives as a cancel
  with ``compact_revision`` and becomes ``Gone``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import etcd3gw
from etcd3gw import exceptions as etcd_errors

from podnet.api.kinds import Obj
from podnet.api.selectors import Selector
from podnet.store import etcd_watch
from podnet.store.base import (
    AlreadyExists,
    Conflict,
    NotFound,
    StoreError,
    WatchEvent,
    key,
    matches,
    obj_name,
    obj_namespace,
    prepare_create,
    prepare_status_update,
    prepare_update,
)
from podnet.store.etcd_watch import b64, prefix_end

LIST_PAGE = 500
Prepare = Callable[[Obj, Obj, int], Obj]


def _decode_kv(kv: dict[str, Any]) -> Obj:
    obj: Obj = json.loads(base64.b64decode(kv.get("value", "")) or b"{}")
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv["mod_revision"])
    return obj


def _value(obj: Obj) -> str:
    stored = dict(obj)
    meta = obj.get("metadata") or {}
    stored["metadata"] = {k: v for k, v in meta.items() if k != "resourceVersion"}
    return b64(json.dumps(stored, separators=(",", ":")))


class EtcdStore:
    """The Store protocol over an etcd v3 cluster member at ``host:port``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 2379, prefix: str = "", timeout: float = 30.0
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.prefix = prefix.rstrip("/")
        self.base_url = f"http://{host}:{port}"
        self._local = threading.local()
        self._clients: list[etcd3gw.Etcd3Client] = []
        self._sessions: set[aiohttp.ClientSession] = set()
        self._closed = False
        self._stop = asyncio.Event()

    # -- plumbing --
    def _client(self) -> etcd3gw.Etcd3Client:
        client: etcd3gw.Etcd3Client | None = getattr(self._local, "client", None)
        if client is None:
            client = etcd3gw.client(host=self.host, port=self.port, timeout=self.timeout)
            self._local.client = client
            self._clients.append(client)
        return client

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        client = self._client()
        try:
            out: dict[str, Any] = client.post(client.get_url(path), json=body)
        except etcd_errors.Etcd3Exception as e:
            raise StoreError(f"etcd {path}: {e.detail_text or e}") from None
        return out

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._closed:
            raise StoreError("store is closed")
        return await asyncio.to_thread(self._post, path, body)

    def _key(self, resource: str, namespace: str, name: str) -> str:
        return self.prefix + key(resource, namespace, name)

    def _prefix(self, resource: str, namespace: str | None) -> str:
        tail = f"{namespace}/" if namespace else ""
        return f"{self.prefix}/registry/{resource}/{tail}"

    # -- reads --
    async def get(self, resource: str, namespace: str, name: str) -> Obj:
        resp = await self._call("/kv/range", {"key": b64(self._key(resource, namespace, name))})
        kvs = resp.get("kvs") or []
        if not kvs:
            raise NotFound(f'{resource} "{name}" not found')
        return _decode_kv(kvs[0])

    async def list(
        self, resource: str, namespace: str | None = None, selector: Selector | None = None
    ) -> tuple[list[Obj], str]:
        prefix = self._prefix(resource, namespace)
        body: dict[str, Any] = {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}
        body["limit"] = LIST_PAGE
        items: list[Obj] = []
        revision = ""
        while True:
            resp = await self._call("/kv/range", body)
            revision = revision or str(resp["header"]["revision"])
            body["revision"] = int(revision)  # every page from the same snapshot
            kvs = resp.get("kvs") or []
            items.extend(o for o in map(_decode_kv, kvs) if matches(o, namespace, selector))
            if not resp.get("more") or not kvs:
                break
            body["key"] = b64(base64.b64decode(kvs[-1]["key"]) + b"\0")
        items.sort(key=lambda o: (obj_namespace(o), obj_name(o)))
        return items, revision

    # -- writes --
    async def create(self, resource: str, obj: Obj) -> Obj:
        k = b64(self._key(resource, obj_namespace(obj), obj_name(obj)))
        out = prepare_create(obj, 0)
        resp = await self._call("/kv/txn", {
            "compare": [{"key": k, "result": "EQUAL", "target": "CREATE", "create_revision": 0}],
            "success": [{"request_put": {"key": k, "value": _value(out)}}],
        })  # fmt: skip
        if not resp.get("succeeded"):
            raise AlreadyExists(f'{resource} "{obj_name(obj)}" already exists')
        out["metadata"]["resourceVersion"] = str(resp["header"]["revision"])
        return out

    async def update(self, resource: str, obj: Obj) -> Obj:
        return await self._replace(resource, obj, prepare_update)

    async def update_status(self, resource: str, obj: Obj) -> Obj:
        return await self._replace(resource, obj, prepare_status_update)

    async def _replace(self, resource: str, obj: Obj, prepare: Prepare) -> Obj:
        name = obj_name(obj)
        k = b64(self._key(resource, obj_namespace(obj), name))
        resp = await self._call("/kv/range", {"key": k})
        while True:
            kvs = resp.get("kvs") or []
            if not kvs:
                raise NotFound(f'{resource} "{name}" not found')
            stored = _decode_kv(kvs[0])
            out = prepare(obj, stored, 0)  # raises Conflict on a stale incoming version
            resp = await self._call("/kv/txn", {
                "compare": [{"key": k, "result": "EQUAL", "target": "MOD",
                             "mod_revision": int(kvs[0]["mod_revision"])}],
                "success": [{"request_put": {"key": k, "value": _value(out)}}],
                "failure": [{"request_range": {"key": k}}],
            })  # fmt: skip
            if resp.get("succeeded"):
                out["metadata"]["resourceVersion"] = str(resp["header"]["revision"])
                return out
            resp = resp["responses"][0]["response_range"]  # changed meanwhile: try again

    async def delete(
        self, resource: str, namespace: str, name: str, resource_version: str | None = None
    ) -> Obj:
        k = b64(self._key(resource, namespace, name))
        if not resource_version:
            resp = await self._call("/kv/deleterange", {"key": k, "prev_kv": True})
            prev = resp.get("prev_kvs") or []
            if not prev:
                raise NotFound(f'{resource} "{name}" not found')
            return self._deleted(prev[0], resp)
        try:
            expected = int(resource_version)
        except ValueError:
            expected = -1
        resp = await self._call("/kv/txn", {
            "compare": [{"key": k, "result": "EQUAL", "target": "MOD", "mod_revision": expected}],
            "success": [{"request_delete_range": {"key": k, "prev_kv": True}}],
            "failure": [{"request_range": {"key": k}}],
        })  # fmt: skip
        inner = resp["responses"][0]
        if resp.get("succeeded"):
            prev = inner["response_delete_range"].get("prev_kvs") or []
            if prev:
                return self._deleted(prev[0], resp)
        elif inner["response_range"].get("kvs"):
            raise Conflict(
                f"Operation cannot be fulfilled on {name}: the object has been modified; "
                "please apply your changes to the latest version and try again"
            )
        raise NotFound(f'{resource} "{name}" not found')

    @staticmethod
    def _deleted(prev_kv: dict[str, Any], resp: dict[str, Any]) -> Obj:
        obj = _decode_kv(prev_kv)
        obj["metadata"]["resourceVersion"] = str(resp["header"]["revision"])
        return obj

    # -- watch --
    async def watch(
        self,
        resource: str,
        namespace: str | None = None,
        resource_version: str | None = None,
        selector: Selector | None = None,
    ) -> AsyncIterator[WatchEvent]:
        if self._closed:
            raise StoreError("store is closed")
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self._sessions.add(session)
            try:
                stream = etcd_watch.stream(
                    session,
                    self.base_url,
                    self._prefix(resource, namespace),
                    resource_version,
                    self._stop,
                )
                async for etype, kv, prev_kv in stream:
                    event = _event(etype, kv, prev_kv)
                    if matches(event.object, namespace, selector):
                        yield event
            except (aiohttp.ClientError, asyncio.IncompleteReadError) as e:
                if not self._closed:
                    raise StoreError(f"etcd watch at {self.base_url}: {e}") from None
            finally:
                self._sessions.discard(session)

    # -- maintenance and lifecycle --
    async def compact(self, revision: int | None = None) -> int:
        """Drop etcd history before ``revision`` (default: the current one); returns it."""
        if revision is None:
            resp = await self._call("/kv/range", {"key": b64(self.prefix + "/"), "limit": 1})
            revision = int(resp["header"]["revision"])
        await self._call("/kv/compaction", {"revision": revision, "physical": True})
        return revision

    async def close(self) -> None:
        """End all watches and release the HTTP sessions."""
        self._closed = True
        self._stop.set()
        await asyncio.sleep(0)
        for session in list(self._sessions):
            await session.close()
        for client in self._clients:
            client.session.close()


def _event(etype: str, kv: dict[str, Any], prev_kv: dict[str, Any] | None) -> WatchEvent:
    """A WatchEvent from an etcd event; a delete carries the previous value at the delete's rv."""
    if etype == "DELETE":
        obj = _decode_kv(prev_kv) if prev_kv else {"metadata": {}}
        obj["metadata"]["resourceVersion"] = str(kv["mod_revision"])
        return WatchEvent("DELETED", obj)
    return WatchEvent("ADDED" if str(kv.get("version")) == "1" else "MODIFIED", _decode_kv(kv))
