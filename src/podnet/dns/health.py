"""The DNS server's probe endpoints, as CoreDNS's ``health`` and ``ready`` plugins.

A tiny HTTP/1.0 server (asyncio, one request per connection) answers

* ``GET /health``: 200 ``OK`` while the process serves (liveness);
* ``GET /ready``: 200 ``OK`` once the zone has finished its first sync with the
  API server and the server is not shutting down, 503 otherwise (readiness).

The Deployment that ``podnet up`` installs points its readinessProbe at
``/ready``, so a replica joins the ``kube-dns`` Service only when it can answer
cluster names, and leaves it as soon as it starts its lame-duck shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from podnet.dns.forward import parse_hostport


class HealthServer:
    def __init__(self, listen: str, ready: Callable[[], bool]) -> None:
        self.host, self.port = parse_hostport(listen)
        self.ready = ready
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, family=family, reuse_port=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            parts = line.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 else ""
            if path == "/health":
                status, body = "200 OK", "OK"
            elif path == "/ready":
                ok = self.ready()
                status, body = ("200 OK", "OK") if ok else ("503 Service Unavailable", "not ready")
            else:
                status, body = "404 Not Found", "not found"
            writer.write(f"HTTP/1.0 {status}\r\nContent-Type: text/plain\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode())
            await writer.drain()
        except (OSError, TimeoutError, UnicodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
