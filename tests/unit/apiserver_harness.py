"""Shared helpers for the API server tests: object builders and a running server.

``running()`` starts a real API server (unix socket in a short temp dir, and
optionally TCP on 127.0.0.1 with a token) in the test's event loop over a
Registry seeded with the namespaces default and kube-system, and hands back
the server, a Client on its socket and the Registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podnet.api.kinds import Obj
from podnet.apiserver.client import Client
from podnet.apiserver.registry import Registry
from podnet.apiserver.server import APIServer, serve
from podnet.store.base import Store
from podnet.store.memory import MemoryStore

TOKEN = "s3cret-token"


def aio(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test function in a fresh event loop (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))

    return wrapper


def namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def configmap(name: str, ns: str = "default", labels: dict[str, str] | None = None,
              data: dict[str, str] | None = None) -> Obj:
    m: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        m["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": m, "data": data or {"k": "v"}}


def service(name: str, ns: str = "default", **spec: Any) -> Obj:
    body: dict[str, Any] = {"selector": {"app": name},
                            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": body}


def pod(name: str, ns: str = "default", node: str | None = None,
        labels: dict[str, str] | None = None) -> Obj:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name}},
            "spec": spec}


def node(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}


def deployment(name: str, ns: str = "default", replicas: int = 2) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def netpol(name: str, ns: str = "default") -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}


async def seeded(store: Store | None = None) -> Registry:
    reg = Registry(store or MemoryStore())
    for ns in ("default", "kube-system"):
        await reg.create("namespaces", namespace(ns))
    return reg


@dataclass
class Running:
    server: APIServer
    client: Client
    registry: Registry
    socket: Path

    @property
    def base(self) -> str:
        return "http://localhost"


@contextlib.asynccontextmanager
async def running(store: Store | None = None, tcp: bool = False,
                  bookmark_interval: float = 10.0) -> AsyncIterator[Running]:
    tmp = Path(tempfile.mkdtemp(prefix="pnapi-", dir="/tmp"))
    reg = await seeded(store)
    sock = tmp / "run" / "apiserver.sock"
    server = serve(reg, sock, ("127.0.0.1", 0) if tcp else None, TOKEN if tcp else None,
                   bookmark_interval=bookmark_interval)
    try:
        async with server:
            client = Client(socket_path=sock)
            try:
                yield Running(server, client, reg, sock)
            finally:
                await client.close()
    finally:
        await reg.close()
        shutil.rmtree(tmp, ignore_errors=True)
