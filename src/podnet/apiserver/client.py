"""The typed async client of the API server: the Store protocol over HTTP.

``Client`` offers the Registry's methods (get, list, create, update,
update_status, patch, apply, delete, watch) against a running server, over its
unix socket by default or over TCP with a bearer token. Kubernetes ``Status``
answers come back as the same exceptions the Registry raises (NotFound,
AlreadyExists, Conflict, Gone, Invalid with its field causes, ...), so code
written against the in-process Registry runs unchanged against a server.

``watch`` is an async generator of ``WatchEvent`` (BOOKMARK events included, so
an informer can advance its resourceVersion). It resumes by itself from the
last resourceVersion it saw when the server ends a stream, raises ``Gone`` when
the server answers 410 (the caller relists), and raises the connection error
when the server is unreachable.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from podnet.api.config import DEFAULT_CLUSTER, apiserver_socket
from podnet.api.kinds import BY_PLURAL, Kind, Obj, meta
from podnet.api.selectors import Selector
from podnet.apiserver import patch as patching
from podnet.apiserver.errors import error_from_status
from podnet.store.base import NotFound, StoreError, WatchEvent

T = TypeVar("T")
MERGE_PATCH = "application/merge-patch+json"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion from synchronous code (the CLI's entry points)."""
    return asyncio.run(coro)


def _kind(resource: str) -> Kind:
    k = BY_PLURAL.get(resource)
    if k is None:
        raise NotFound(f'the server could not find the requested resource "{resource}"')
    return k


def _where(kind: Kind, obj: Obj) -> tuple[str, str]:
    m = obj.get("metadata") or {}
    ns = str(m.get("namespace") or "default") if kind.namespaced else ""
    return ns, str(m.get("name") or "")


class Client:
    """An API server connection: ``Client()`` uses the default cluster's unix socket."""

    def __init__(self, socket_path: str | Path | None = None, url: str | None = None,
                 token: str | None = None, timeout: float = 60.0,
                 ca_file: str | Path | None = None) -> None:
        """``ca_file``: the CA to trust for an https ``url`` (a cluster's ``pki/ca.crt``)."""
        if url is None and socket_path is None:
            socket_path = apiserver_socket(os.environ.get("PODNET_CLUSTER") or DEFAULT_CLUSTER)
        self.socket_path = str(socket_path) if socket_path is not None else None
        self.base = (url or "http://localhost").rstrip("/")
        self.token = token
        self.ssl = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_cluster(cls, cluster: str) -> Client:
        return cls(socket_path=apiserver_socket(cluster))

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector: aiohttp.BaseConnector
            if self.socket_path is not None and not self.base.startswith("https"):
                connector = aiohttp.UnixConnector(path=self.socket_path, limit=256)
            else:
                connector = aiohttp.TCPConnector(limit=256, ssl=self.ssl or True)
            headers = {"Accept": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._session = aiohttp.ClientSession(connector=connector, headers=headers,
                                                  timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # -- plumbing --
    async def request(self, method: str, path: str, params: dict[str, str] | None = None,
                      body: Any = None, content_type: str = "application/json") -> Any:
        """One call; returns the decoded JSON answer or raises the error its Status names."""
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else None
        async with self._http().request(method, self.base + path, params=params, data=data,
                                        headers=headers) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise _error(resp.status, text)
            return json.loads(text) if text else None

    @staticmethod
    def _params(dry_run: bool, **extra: str | None) -> dict[str, str]:
        params = {k: v for k, v in extra.items() if v is not None}
        if dry_run:
            params["dryRun"] = "All"
        return params

    # -- reads --
    async def get(self, resource: str, namespace: str, name: str) -> Obj:
        out: Obj = await self.request("GET", _kind(resource).path(namespace, name))
        return out

    async def list(self, resource: str, namespace: str | None = None,
                   selector: Selector | None = None,
                   field_selector: str | None = None) -> tuple[list[Obj], str]:
        """Objects and the list's resourceVersion; ``field_selector`` like "spec.nodeName=n1"."""
        if selector is not None and selector.matches_nothing:
            return [], ""
        params = {"labelSelector": str(selector)} if selector is not None and not selector.empty else {}
        if field_selector:
            params["fieldSelector"] = field_selector
        body = await self.request("GET", _kind(resource).path(namespace), params)
        return list(body.get("items") or []), str((body.get("metadata") or {}).get("resourceVersion", ""))

    # -- writes --
    async def create(self, resource: str, obj: Obj, dry_run: bool = False) -> Obj:
        kind = _kind(resource)
        ns, _ = _where(kind, obj)
        out: Obj = await self.request("POST", kind.path(ns), self._params(dry_run), obj)
        return out

    async def update(self, resource: str, obj: Obj, dry_run: bool = False) -> Obj:
        kind = _kind(resource)
        out: Obj = await self.request("PUT", kind.path(*_where(kind, obj)), self._params(dry_run), obj)
        return out

    async def update_status(self, resource: str, obj: Obj, dry_run: bool = False) -> Obj:
        kind = _kind(resource)
        path = kind.path(*_where(kind, obj)) + "/status"
        out: Obj = await self.request("PUT", path, self._params(dry_run), obj)
        return out

    async def patch(self, resource: str, namespace: str, name: str, patch: dict[str, Any],
                    dry_run: bool = False, status: bool = False) -> Obj:
        """A JSON merge patch (``null`` removes a key); ``status=True`` patches /status."""
        path = _kind(resource).path(namespace, name) + ("/status" if status else "")
        out: Obj = await self.request("PATCH", path, self._params(dry_run), patch, MERGE_PATCH)
        return out

    async def apply(self, obj: Obj, dry_run: bool = False) -> Obj:
        """Create, or patch the live object like ``kubectl apply`` (see patch.apply)."""
        return await patching.apply(self, obj, dry_run=dry_run)

    async def delete(self, resource: str, namespace: str, name: str,
                     resource_version: str | None = None,
                     grace_period_seconds: int | None = None, dry_run: bool = False) -> Obj:
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if resource_version:
            options["preconditions"] = {"resourceVersion": resource_version}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if dry_run:
            options["dryRun"] = ["All"]
        out: Obj = await self.request("DELETE", _kind(resource).path(namespace, name), None, options)
        return out

    # -- watch --
    async def watch(self, resource: str, namespace: str | None = None,
                    resource_version: str | None = None,
                    selector: Selector | None = None) -> AsyncIterator[WatchEvent]:
        """Events after ``resource_version`` (None: from now), forever; Gone on 410."""
        if selector is not None and selector.matches_nothing:
            await asyncio.Event().wait()
        path = _kind(resource).path(namespace)
        base = {"watch": "1", "allowWatchBookmarks": "true"}
        if selector is not None and not selector.empty:
            base["labelSelector"] = str(selector)
        rv = resource_version if resource_version not in ("", "0") else None
        stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout.total)
        while True:
            started, got = asyncio.get_running_loop().time(), 0
            params = dict(base)
            if rv is None:
                params["sendInitialEvents"] = "false"
            else:
                params["resourceVersion"] = rv
            async with self._http().get(self.base + path, params=params,
                                        timeout=stream_timeout) as resp:
                if resp.status >= 400:
                    raise _error(resp.status, await resp.text())
                async for ev in _events(resp):
                    if ev.type == "ERROR":
                        raise error_from_status(ev.object)
                    rv = str(meta(ev.object).get("resourceVersion") or rv or "") or None
                    got += 1
                    yield ev
            if not got and asyncio.get_running_loop().time() - started < 1.0:
                await asyncio.sleep(0.5)  # the server ends streams at once: do not spin


async def _events(resp: aiohttp.ClientResponse) -> AsyncIterator[WatchEvent]:
    """Newline-delimited JSON events of one watch response (lines of any length)."""
    buf = b""
    async for chunk in resp.content.iter_any():
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.strip():
                raw = json.loads(line)
                yield WatchEvent(raw.get("type", "ERROR"), raw.get("object") or {})
    if buf.strip():
        raw = json.loads(buf)
        yield WatchEvent(raw.get("type", "ERROR"), raw.get("object") or {})


def _error(status: int, text: str) -> StoreError:
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        return error_from_status(body, status)
    return error_from_status({"message": text.strip() or f"HTTP {status}", "code": status}, status)
