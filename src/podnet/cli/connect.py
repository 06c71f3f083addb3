"""How CLI commands reach a cluster: the API server's unix socket in the cluster's
state directory, or a clear error saying the cluster is not running."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from podnet.api.config import DEFAULT_CLUSTER, apiserver_socket

T = TypeVar("T")


class NotRunning(Exception):
    pass


def cluster_name(value: str | None) -> str:
    return value or os.environ.get("PODNET_CLUSTER") or DEFAULT_CLUSTER


def with_client(cluster: str, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``fn(client)`` against the cluster's API server and close the client."""
    from podnet.apiserver.client import Client

    sock = apiserver_socket(cluster)
    if not sock.exists():
        raise NotRunning(
            f'cluster "{cluster}" is not running (no API server socket at {sock}); '
            f"start it with `podnet up --cluster {cluster}` or `podnet controlplane --cluster {cluster}`"
        )

    async def run() -> T:
        client = Client(socket_path=str(sock))
        try:
            return await fn(client)
        finally:
            await client.close()

    return asyncio.run(run())
