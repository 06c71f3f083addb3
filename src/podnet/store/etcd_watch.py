"""The etcd v3 watch stream over the JSON gRPC gateway (``POST /v3/watch``), with aiohttp.

The gateway answers a ``create_request`` with a never-ending HTTP body of
newline-separated JSON ``{"result": WatchResponse}`` messages: first
``created``, then batches of ``events``; a start revision that is already
compacted arrives as ``canceled`` with ``compact_revision``, which becomes
``Gone``. Keys and values are base64 in both directions.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from podnet.store.base import Gone, StoreError, parse_resource_version

RawEvent = tuple[str, dict[str, Any], dict[str, Any] | None]


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


def prefix_end(prefix: str) -> bytes:
    """The range end that covers every key starting with ``prefix``."""
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return bytes(raw)


def _check(message: dict[str, Any]) -> dict[str, Any]:
    if "error" in message:
        err = message["error"]
        raise StoreError(f"etcd watch: {err.get('message', err) if isinstance(err, dict) else err}")
    result: dict[str, Any] = message.get("result") or {}
    if result.get("canceled"):
        compacted = int(result.get("compact_revision") or 0)
        if compacted:
            raise Gone(f"too old resource version: revision compacted at {compacted}")
        raise StoreError(f"etcd watch canceled: {result.get('cancel_reason', '')}")
    if result.get("created") is False:
        raise StoreError("etcd refused the watch")
    return result


async def _chunks(resp: aiohttp.ClientResponse, stop: asyncio.Event) -> AsyncIterator[bytes]:
    """The body as it arrives, until EOF or until ``stop`` is set (store closed)."""
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while True:
            read = asyncio.ensure_future(resp.content.readany())
            await asyncio.wait({read, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not read.done():
                read.cancel()
                return
            chunk = read.result()
            if not chunk:
                return
            yield chunk
    finally:
        stopped.cancel()


async def stream(
    session: aiohttp.ClientSession,
    base_url: str,
    prefix: str,
    resource_version: str | None,
    stop: asyncio.Event,
) -> AsyncIterator[RawEvent]:
    """(type "PUT"/"DELETE", kv, prev_kv) for every change under ``prefix`` after the version.

    Ends when the server ends the stream or when ``stop`` is set.
    """
    create: dict[str, Any] = {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}
    create["prev_kv"] = True
    start = parse_resource_version(resource_version)
    if start is not None:
        create["start_revision"] = start + 1
    async with session.post(f"{base_url}/v3/watch", json={"create_request": create}) as resp:
        if resp.status != 200:
            raise StoreError(f"etcd watch: HTTP {resp.status}: {(await resp.text())[:200]}")
        buffer = b""
        async for chunk in _chunks(resp, stop):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                result = _check(json.loads(line))
                for ev in result.get("events") or []:
                    yield ev.get("type", "PUT"), ev["kv"], ev.get("prev_kv")
