"""Shared helpers for the controller tests: a Registry-backed cluster and object builders.

``cluster()`` gives a ``Registry`` over a fresh ``MemoryStore`` with the namespace
``default`` and three Ready nodes (node-1..3, pod ranges 10.244.i.0/24);
``settle()`` converges a chosen set of controllers, optionally with the offline
kubelet standing in for node agents (pods bound to a node become Running and
Ready with an IP).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from podnet.api.config import ClusterConfig
from podnet.api.kinds import Obj
from podnet.apiserver.registry import Registry
from podnet.controllers.base import Controller, ControllerOptions
from podnet.controllers.manager import ControllerManager
from podnet.offline_kubelet import OfflineKubelet
from podnet.store.base import Store
from podnet.store.memory import MemoryStore

CFG = ClusterConfig().with_nodes(3)


def aio(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no pytest-asyncio)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))

    return wrapper


def node(name: str, ip: str, cidr: str, ready: bool = True, **labels: str) -> Obj:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": {"podCIDR": cidr},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}],
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


async def cluster(nodes: int = 3, namespaces: Sequence[str] = ("default",)) -> Registry:
    reg = Registry(MemoryStore(), CFG)
    for ns in namespaces:
        await reg.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": ns}})
    for nc in CFG.nodes[:nodes]:
        await reg.create("nodes", node(nc.name, nc.ip, nc.pod_cidr))
    return reg


def container(name: str = "c", **ports: int) -> dict[str, Any]:
    return {"name": name, "image": "registry.k8s.io/agnhost:2.45",
            "ports": [{"name": n, "containerPort": p} for n, p in ports.items()]}


def pod(name: str, labels: dict[str, str], ns: str = "default",
        containers: list[dict[str, Any]] | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": containers or [container(http=8080)], **spec}}


def service(name: str, selector: dict[str, str] | None, ports: list[dict[str, Any]],
            ns: str = "default", **spec: Any) -> Obj:
    body: dict[str, Any] = {"ports": ports, **spec}
    if selector is not None:
        body["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": body}


def template(labels: dict[str, str], image: str = "registry.k8s.io/agnhost:2.45",
             **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": image,
                                     "ports": [{"name": "http", "containerPort": 8080}]}],
                     **spec}}


async def run_pod(store: Store, ns: str, name: str, ip: str, node_name: str = "node-1",
                  ready: bool = True) -> Obj:
    """What a node agent reports for a started pod."""
    p = await store.get("pods", ns, name)
    if not p["spec"].get("nodeName"):
        p["spec"]["nodeName"] = node_name
        p = await store.update("pods", p)
    p["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    return await store.update_status("pods", p)


def manager(store: Store, controllers: Sequence[type[Controller]],
            **options: Any) -> ControllerManager:
    return ControllerManager(store, CFG, options=ControllerOptions(**options),
                             controllers=controllers)


async def settle(store: Store, controllers: Sequence[type[Controller]], kubelet: bool = False,
                 **options: Any) -> ControllerManager:
    mgr = manager(store, controllers, **options)
    steps = [OfflineKubelet(store, informers=mgr.informers).sync] if kubelet else []
    await mgr.converge(extra_steps=steps)
    assert not mgr.errors, mgr.errors
    return mgr


async def items(store: Store, resource: str, ns: str | None = None) -> list[Obj]:
    return (await store.list(resource, ns))[0]


def active(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]
