"""The control-plane process: store + admission registry + API server + controllers
in one asyncio loop, until SIGTERM/SIGINT.

It keeps nothing in memory that matters: every object lives in the store (SQLite
by default, in the cluster's state directory), so a kill -9 and a restart
converge from there.

With ``--listen HOST:PORT`` it also serves HTTPS on TCP for kubectl: the
certificates and the bearer token (``--token``, or one kept in the state
directory) come from the state directory and ``<state>/kubeconfig`` is written
once the port is bound (see podnet.cluster.kubeconfig).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

from podnet.api.config import ClusterConfig, apiserver_socket, state_dir
from podnet.cluster import kubeconfig

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
    tls: ssl.SSLContext | None = None,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Run until ``stop`` is set (or forever); ``on_listening(port)`` is called once the
    TCP listener (if any) is bound."""
    from podnet.apiserver.registry import Registry
    from podnet.apiserver.server import serve
    from podnet.controllers.base import ControllerOptions
    from podnet.controllers.manager import ControllerManager
    from podnet.store.open import open_store

    store = open_store(store_url)
    registry = Registry(store, config)
    stop = stop or asyncio.Event()
    async with serve(registry, sock, tcp=tcp, token=token, tls=tls) as server:
        if on_listening is not None and server.tcp_port is not None:
            on_listening(server.tcp_port)
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
    config = ClusterConfig(name=cluster, service_cidr=service_cidr, pod_cidr=pod_cidr)
    tcp: tuple[str, int] | None = None
    tls: ssl.SSLContext | None = None
    on_listening: Callable[[int], None] | None = None
    if listen:
        host, _, port = listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        try:
            tcp = (host, int(port))
        except ValueError:
            print(f"error: --listen wants HOST:PORT, not {listen!r}", file=sys.stderr)
            sys.exit(2)
        token = token or kubeconfig.ensure_token(cluster)
        tls, on_listening = _tls_for(cluster, config, host, token)
    url = store_url if store_url and store_url != "sqlite" else default_store_url(cluster)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_controlplane(config, url, sock, tcp, token, node_grace, stop, tls,
                                 on_listening)

    asyncio.run(main())


def _tls_for(cluster: str, config: ClusterConfig, host: str,
             token: str) -> tuple[ssl.SSLContext, Callable[[int], None]]:
    """The serving TLS context (certificates made or reused in ``<state>/pki``) and the
    callback that writes the kubeconfig once the port is known."""
    from podnet.apiserver import tls

    ips = [*tls.DEFAULT_IPS, config.kubernetes_service_ip]
    names = list(tls.DEFAULT_DNS)
    if host not in kubeconfig.WILDCARDS:
        try:
            ips.append(str(ipaddress.ip_address(host)))
        except ValueError:
            names.append(host)
    pki = tls.ensure(kubeconfig.pki_dir(cluster), cluster, sorted(set(ips)), sorted(set(names)))

    def write_kubeconfig(port: int) -> None:
        path = kubeconfig.write(cluster, kubeconfig.server_url(host, port), pki.ca_cert, token)
        log.info("kubectl: export KUBECONFIG=%s", path)

    return pki.server_context(), write_kubeconfig
