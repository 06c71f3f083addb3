"""The API server: an aiohttp app over the Registry, on a unix socket and optionally TCP.

``serve(registry, socket_path, tcp=None, token=None, tls=None)`` returns an ``APIServer``
to use as an async context manager (or ``await start()`` / ``await stop()``),
so one asyncio loop can run the server next to the controllers::

    async with serve(registry, state_dir / "apiserver.sock"):
        await run_controllers(registry)

The unix socket (mode 0600, in a directory created 0700 when missing) needs
no credentials: file permissions are the access control. The TCP listener
answers 401 unless the request carries ``Authorization: Bearer <token>``;
``/healthz``, ``/readyz``, ``/livez`` and ``/version`` are open on both, as
Kubernetes leaves them to anonymous users. With ``tls`` (an ``ssl.SSLContext``,
see podnet.apiserver.tls) the TCP listener speaks HTTPS, which kubectl needs:
client-go sends a bearer token only over TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import socket
import ssl
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from podnet.apiserver import discovery, handlers, openapi, routes
from podnet.apiserver.errors import Unauthorized, status_of
from podnet.apiserver.registry import Registry
from podnet.store.base import StoreError

log = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/livez", "/version"})
BOOKMARK_INTERVAL = 10.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _status_response(err: BaseException) -> web.Response:
    body = status_of(err)
    return web.json_response(body, status=int(body["code"]))


def make_app(registry: Registry, token: str | None = None,
             bookmark_interval: float = BOOKMARK_INTERVAL) -> web.Application:
    """The HTTP application; with ``token`` every non-health request must carry it."""
    watches: set[asyncio.Task[Any]] = set()

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if token is not None and request.path not in OPEN_PATHS:
                auth = request.headers.get("Authorization", "")
                if not hmac.compare_digest(auth.encode(), f"Bearer {token}".encode()):
                    raise Unauthorized("Unauthorized")
            return await handler(request)
        except StoreError as e:
            return _status_response(e)
        except web.HTTPException:
            raise
        except Exception as e:
            log.exception("%s %s failed", request.method, request.path)
            return _status_response(e)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def dispatch(request: web.Request) -> web.StreamResponse:
        spec = openapi.answer(request.path)
        if spec is not None:
            return web.Response(body=spec, content_type="application/json")
        found = discovery.negotiate(request.path, request.headers.get("Accept"))
        if found is not None:
            doc, ctype = found
            return web.Response(body=json.dumps(doc), headers={"Content-Type": ctype})
        prefix = routes.split_prefix(request.path)
        if prefix is None:
            raise routes.not_found()
        target = routes.resolve(*prefix)
        task = asyncio.current_task()
        watching = request.query.get("watch", "").lower() in ("true", "1") and task is not None
        if watching and task is not None:
            watches.add(task)
        try:
            return await handlers.handle(request, registry, target, bookmark_interval)
        finally:
            if task is not None:
                watches.discard(task)

    async def end_watches(app: web.Application) -> None:
        for t in list(watches):
            t.cancel()

    app = web.Application(middlewares=[errors], client_max_size=16 * 1024 * 1024)
    for p in ("/healthz", "/readyz", "/livez"):
        app.router.add_get(p, health)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    app.on_shutdown.append(end_watches)
    return app


class APIServer:
    """A running (after ``start``) API server; ``tcp_port`` is the bound TCP port, if any."""

    def __init__(self, registry: Registry, socket_path: str | Path,
                 tcp: tuple[str, int] | None = None, token: str | None = None,
                 bookmark_interval: float = BOOKMARK_INTERVAL,
                 tls: ssl.SSLContext | None = None) -> None:
        if tcp is not None and not token:
            raise ValueError("a TCP listener needs a bearer token")
        self.registry = registry
        self.socket_path = Path(socket_path)
        self.tcp = tcp
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.tls = tls
        self.tcp_port: int | None = None
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        _prepare_socket_path(self.socket_path)
        unix = web.AppRunner(make_app(self.registry, None, self.bookmark_interval),
                             shutdown_timeout=1.0, access_log=None)
        await unix.setup()
        self._runners.append(unix)
        await web.UnixSite(unix, str(self.socket_path)).start()
        os.chmod(self.socket_path, 0o600)
        if self.tcp is not None:
            tcp = web.AppRunner(make_app(self.registry, self.token, self.bookmark_interval),
                                shutdown_timeout=1.0, access_log=None)
            await tcp.setup()
            self._runners.append(tcp)
            site = web.TCPSite(tcp, self.tcp[0], self.tcp[1], ssl_context=self.tls)
            await site.start()
            self.tcp_port = int(tcp.addresses[0][1])

    async def stop(self) -> None:
        runners, self._runners = self._runners, []
        for r in reversed(runners):
            await r.cleanup()
        with contextlib.suppress(FileNotFoundError):
            if self.socket_path.is_socket():
                self.socket_path.unlink()

    async def __aenter__(self) -> APIServer:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


def serve(registry: Registry, socket_path: str | Path, tcp: tuple[str, int] | None = None,
          token: str | None = None, bookmark_interval: float = BOOKMARK_INTERVAL,
          tls: ssl.SSLContext | None = None) -> APIServer:
    """An API server for ``registry``; start it with ``async with`` or ``await .start()``.
    ``tls`` makes the TCP listener HTTPS (the unix socket stays plain HTTP)."""
    return APIServer(registry, socket_path, tcp, token, bookmark_interval, tls)


def _prepare_socket_path(path: Path) -> None:
    """Make the socket's directory (0700 when created) and clear a stale socket file;
    refuse when another server is still answering on it."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    if not path.exists() and not path.is_symlink():
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise StoreError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # nobody listens: left over from a crash
    else:
        raise StoreError(f"an API server is already listening on {path}")
    finally:
        probe.close()
