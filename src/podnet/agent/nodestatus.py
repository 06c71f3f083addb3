"""The agent's Node object: registration and the heartbeat the control plane watches.

The Node carries its pod range, addresses and capacity (a Linux bridge holds at most
1023 ports, so at most 1023 pods). Its Ready condition's ``lastHeartbeatTime`` is
renewed every ``interval`` seconds; the node-lifecycle controller marks a node whose
heartbeat is older than the grace period NotReady.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from typing import Any

from podnet.agent.status import rfc3339
from podnet.api.config import ClusterConfig, NodeConfig
from podnet.api.kinds import Obj
from podnet.store.base import NotFound, Store, StoreError

log = logging.getLogger("podnet.agent")


def ready_condition(since: str, now: str) -> dict[str, Any]:
    return {"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "podnet agent is posting ready status",
            "lastHeartbeatTime": now, "lastTransitionTime": since}


def node_object(config: ClusterConfig, node: NodeConfig) -> Obj:
    now = rfc3339(time.time())
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node.name, "labels": {
            "kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": platform.machine(), "podnet.dev/cluster": config.name}},
        "spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": node.ip},
                          {"type": "Hostname", "address": node.name}],
            "capacity": {"pods": str(node.max_pods)},
            "allocatable": {"pods": str(node.max_pods)},
            "conditions": [ready_condition(now, now)],
            "nodeInfo": {"kubeletVersion": "podnet", "kernelVersion": platform.release(),
                         "operatingSystem": "linux", "architecture": platform.machine(),
                         "containerRuntimeVersion": "podnet://netns"},
        },
    }


async def register(store: Store, config: ClusterConfig, node: NodeConfig) -> None:
    """Create the Node, or take over an existing one (labels, pod range, status)."""
    want = node_object(config, node)
    try:
        have = await store.get("nodes", "", node.name)
        have["metadata"].setdefault("labels", {}).update(want["metadata"]["labels"])
        have["spec"] = {**have.get("spec", {}), **want["spec"]}
        have = await store.update("nodes", have)
        have["status"] = want["status"]
        await store.update_status("nodes", have)
    except NotFound:
        created = await store.create("nodes", want)
        created["status"] = want["status"]
        await store.update_status("nodes", created)


async def heartbeat(store: Store, config: ClusterConfig, node: NodeConfig, interval: float) -> None:
    """Renew the Ready condition every ``interval`` seconds, forever."""
    while True:
        await asyncio.sleep(interval)
        try:
            obj = await store.get("nodes", "", node.name)
            now = rfc3339(time.time())
            conds = (obj.get("status") or {}).get("conditions") or []
            old: dict[str, Any] = next((c for c in conds if c.get("type") == "Ready"), {})
            since = old.get("lastTransitionTime", now) if old.get("status") == "True" else now
            obj.setdefault("status", {})["conditions"] = [
                *(c for c in conds if c.get("type") != "Ready"), ready_condition(since, now)]
            await store.update_status("nodes", obj)
        except NotFound:
            await register(store, config, node)
        except (StoreError, OSError) as e:
            log.warning("heartbeat failed: %s", e)
