"""The control-plane process: store + admission registry + API server + controllers
in one asyncio loop, until SIGTERM/SIGINT.

It keeps nothing in memory that matters: every object lives in the store (SQLite
by default, in the cluster's state directory), so a kill -9 and a restart
converge from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from podnet.api.config import ClusterConfig, apiserver_socket, state_dir

log = logging.getLogger("podnet.controlplane")


def _socket_alive(path: Path) -> bool:
    if not path.exists():
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def default_store_url(cluster: str) -> str:
    return f"sqlite://{state_dir(cluster) / 'store.db'}"


async def serve_controlplane(
    config: ClusterConfig,
    store_url: str,
    sock: Path,
    tcp: tuple[str, int] | None = None,
    token: str | None = None,
    node_grace: float = 40.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set (or forever)."""
    from podnet.apiserver.registry import Registry
    from podnet.apiserver.server import serve
    from podnet.controllers.base import ControllerOptions
    from podnet.controllers.manager import ControllerManager
    from podnet.store.open import open_store

    store = open_store(store_url)
    registry = Registry(store, config)
    stop = stop or asyncio.Event()
    async with serve(registry, sock, tcp=tcp, token=token):
        options = ControllerOptions(node_grace_seconds=node_grace)
        manager = ControllerManager(registry, config, options=options)
        task = asyncio.create_task(manager.run())
        log.info("control plane for cluster %s serving on %s (store %s)", config.name, sock, store_url)
        try:
            await stop.wait()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    await registry.close()


def run_foreground(
    cluster: str,
    store_url: str | None,
    service_cidr: str,
    pod_cidr: str,
    listen: str | None,
    token: str | None,
    node_grace: float,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sock = apiserver_socket(cluster)
    if _socket_alive(sock):
        print(f'cluster "{cluster}": a control plane is already serving on {sock}; nothing changed')
        return
    sdir = state_dir(cluster)
    sdir.mkdir(parents=True, exist_ok=True)
    os.chmod(sdir, 0o700)
    tcp: tuple[str, int] | None = None
    if listen:
        if not token:
            print("error: --listen needs --token", file=sys.stderr)
            sys.exit(2)
        host, _, port = listen.rpartition(":")
        tcp = (host or "127.0.0.1", int(port))
    config = ClusterConfig(name=cluster, service_cidr=service_cidr, pod_cidr=pod_cidr)
    url = store_url if store_url and store_url != "sqlite" else default_store_url(cluster)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_controlplane(config, url, sock, tcp, token, node_grace, stop)

    asyncio.run(main())
