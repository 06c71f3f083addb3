"""``podnet status``: the control plane, nodes and agents of one cluster, as text."""

from __future__ import annotations

import asyncio
import contextlib

from podnet.agent.paths import NodePaths
from podnet.api.config import apiserver_socket
from podnet.cluster import lifecycle, processes
from podnet.cluster.state import ClusterRecord
from podnet.kernel import netns


def _pid(pid: int | None) -> str:
    return f"running (pid {pid})" if pid else "NOT RUNNING"


def render(rec: ClusterRecord) -> str:
    cfg = rec.config
    name = cfg.name
    lines = [f"cluster {name}: {cfg.network} network, pods {cfg.pod_cidr}, services {cfg.service_cidr}",
             f"  store          {rec.store_url}"]
    sup = lifecycle.supervisor_pid(name)
    cp = lifecycle.controlplane_pid(name)
    lines.append(f"  supervisor     {_pid(sup)}")
    lines.append(f"  control plane  {_pid(cp)}"
                 f" on {apiserver_socket(name)}")
    ready = _node_ready(name) if cp else {}
    for n in cfg.nodes:
        paths = NodePaths(name, n.name)
        agent = processes.find(paths.root / "agent.pid", ["podnet.agent.main", name, n.name])
        ns = f"pn-{name}-{n.name}"
        lines.append(f"  node {n.name:<10} {n.ip:<15} pods {n.pod_cidr:<16} "
                     f"netns {'ok' if netns.exists(ns) else 'MISSING'}  "
                     f"agent {_pid(agent)}  "
                     f"{ready.get(n.name, 'Unknown')}")
    return "\n".join(lines)


def _node_ready(cluster: str) -> dict[str, str]:
    from podnet.apiserver.client import Client

    async def fetch() -> dict[str, str]:
        async with Client(socket_path=str(apiserver_socket(cluster))) as c:
            items, _ = await c.list("nodes")
        out = {}
        for node in items:
            cond: dict[str, str] = next((c for c in (node.get("status") or {}).get("conditions") or []
                         if c.get("type") == "Ready"), {})
            out[node["metadata"]["name"]] = "Ready" if cond.get("status") == "True" else "NotReady"
        return out

    with contextlib.suppress(Exception):
        return asyncio.run(fetch())
    return {}
