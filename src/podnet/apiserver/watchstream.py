"""Streaming watch responses, one JSON event per line, as the Kubernetes API server sends them.

Without a resourceVersion (or with "0") the stream starts with an ADDED event
per existing object (the initial list) unless ``sendInitialEvents=false``;
with one it carries only changes after that version. A too-old version answers
with an ERROR event whose object is a Status 410 Expired, then the stream ends.
With ``allowWatchBookmarks`` a BOOKMARK event (only metadata.resourceVersion)
is sent whenever the stream has been idle for ``bookmark_interval`` seconds.

Each stream reads the store's watch in its own pump task into a bounded queue,
so a slow client only holds back its own queue (and, once that is full, its own
store cursor), never the event loop or other watchers; a closed client is
noticed at the next write or the next idle check and its pump is cancelled.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from podnet.api.kinds import Kind, Obj
from podnet.api.selectors import Selector
from podnet.apiserver.errors import status_of
from podnet.apiserver.fields import FieldSelector
from podnet.apiserver.registry import Registry
from podnet.store.base import BadRequest, RawWatchEvent, WatchEvent

QUEUE_SIZE = 1024
IDLE_CHECK = 5.0
_END = object()


def _true(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


async def _pump(events: AsyncIterator[WatchEvent], queue: asyncio.Queue[Any],
                fields: FieldSelector | None) -> None:
    try:
        async for ev in events:
            if fields is None or fields(ev.object):
                await queue.put(ev)
        await queue.put(_END)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # Gone, a broken backend: tell the client in an ERROR event
        await queue.put(e)
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:
                pass


def _line(etype: str, obj: Obj) -> bytes:
    return json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _typed(kind: Kind, obj: Obj) -> Obj:
    obj.setdefault("kind", kind.kind)
    obj.setdefault("apiVersion", kind.api_version)
    return obj


async def watch_response(request: web.Request, registry: Registry, kind: Kind,
                         namespace: str | None, selector: Selector | None,
                         bookmark_interval: float,
                         fields: FieldSelector | None = None,
                         render: Callable[[Obj], Obj] | None = None) -> web.StreamResponse:
    """Stream the watch; ``render`` turns each object into what is sent (a Table row, say)."""
    q = request.query
    show = render or (lambda obj: _typed(kind, obj))
    rv = q.get("resourceVersion") or None
    if rv is not None and not rv.isdigit():
        raise BadRequest(f"invalid resourceVersion {rv!r}")
    initial = not rv or rv == "0"
    send_initial = initial and q.get("sendInitialEvents", "true").lower() not in ("false", "0")
    bookmarks = _true(q.get("allowWatchBookmarks"))
    try:
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
    except ValueError:
        raise BadRequest(f"invalid timeoutSeconds {q['timeoutSeconds']!r}") from None
    items: list[Obj] = []
    if initial:
        items, rv = await registry.list(kind.plural, namespace, selector)
        items = [o for o in items if fields is None or fields(o)]
    queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
    # Plain watches (no selector, no table) stream the store's logged JSON as it is: no
    # decode and re-encode of every event for every watcher.
    raw = (registry.watch_raw(kind.plural, namespace, rv)
           if selector is None and fields is None and render is None else None)
    events: AsyncIterator[Any] = raw if raw is not None else registry.watch(
        kind.plural, namespace, rv, selector)
    typed = (f'"kind":{json.dumps(kind.kind)}', f'"apiVersion":{json.dumps(kind.api_version)}')
    pump = asyncio.create_task(_pump(events, queue, fields), name=f"watch-{kind.plural}")
    resp = web.StreamResponse(headers={"Content-Type": "application/json",
                                       "Cache-Control": "no-cache"})
    resp.enable_chunked_encoding()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else None
    last_rv = str(rv or "")
    try:
        await resp.prepare(request)
        if send_initial:
            for obj in items:
                await resp.write(_line("ADDED", show(obj)))
        idle_since = loop.time()
        while True:
            now = loop.time()
            wait = IDLE_CHECK
            if bookmarks:
                wait = min(wait, max(0.0, idle_since + bookmark_interval - now))
            if deadline is not None:
                if now >= deadline:
                    break
                wait = min(wait, deadline - now)
            try:
                item = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    break  # the client went away
                if bookmarks and loop.time() - idle_since >= bookmark_interval:
                    bookmark = {"kind": kind.kind, "apiVersion": kind.api_version,
                                "metadata": {"resourceVersion": last_rv}}
                    await resp.write(_line("BOOKMARK", bookmark))
                    idle_since = loop.time()
                continue
            if item is _END:
                break
            if isinstance(item, BaseException):
                await resp.write(_line("ERROR", status_of(item)))
                break
            if isinstance(item, RawWatchEvent):
                last_rv = str(item.resource_version)
                if all(t in item.raw for t in typed):  # as the registry stores every object
                    await resp.write(f'{{"type":"{item.type}","object":{item.raw}}}\n'.encode())
                else:
                    ev = item.decode()
                    await resp.write(_line(ev.type, show(ev.object)))
                idle_since = loop.time()
                continue
            ev = item
            last_rv = str((ev.object.get("metadata") or {}).get("resourceVersion") or last_rv)
            await resp.write(_line(ev.type, show(ev.object)))
            idle_since = loop.time()
    except (ConnectionResetError, ConnectionError):
        pass  # the client closed the stream
    finally:
        pump.cancel()
        try:
            await pump
        except (asyncio.CancelledError, Exception):
            pass
    try:
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError, RuntimeError):
        pass
    return resp
