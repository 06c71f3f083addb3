"""``podnet up``, ``podnet down`` and ``podnet status``.

Up: record the cluster, build its namespaces and links, start its supervisor
(which starts the control plane and the node agents), wait until every node is
Ready. Down: stop the supervisor and anything it or the agents started (pid
files, then every process still inside one of the cluster's namespaces),
delete exactly the namespaces the record names (and any ``pn-<cluster>-``
pod namespace), their ``/etc/netns`` entries, and the state directory.
Both are idempotent and work after a kill -9 of any part.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from podnet.agent.paths import NodePaths
from podnet.api.config import ClusterConfig, apiserver_socket, state_dir
from podnet.cluster import kubeconfig, network, processes, state
from podnet.cluster.topology import TopologyError, netns_prefix, plan
from podnet.kernel import iproute, netns

Progress = Callable[[str], None]
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$")


class ClusterError(Exception):
    """A user-facing failure of up/down; the message says what to do."""


def supervisor_pid(cluster: str) -> int | None:
    return processes.find(state_dir(cluster) / "supervisor.pid", ["podnet.cluster.supervisor", cluster])


def controlplane_pid(cluster: str) -> int | None:
    return processes.find(state_dir(cluster) / "controlplane.pid", ["controlplane", "--cluster", cluster])


def up(config: ClusterConfig, store_url: str | None, options: dict[str, Any], progress: Progress,
       timeout: float = 60.0) -> str:
    """Bring the cluster up. Returns "created", "restarted" (its supervisor had died: the
    namespaces and running processes are adopted) or "running" (nothing changed)."""
    if not NAME.match(config.name):
        raise ClusterError(f"invalid cluster name {config.name!r}: use 1-20 lowercase letters, digits or '-'")
    if not config.nodes:
        raise ClusterError("a cluster needs at least one node")
    rec = state.load(config.name)
    if rec is not None:
        if supervisor_pid(config.name) is not None:
            return "running"
        if all(netns.exists(n) for n in rec.namespaces):
            progress("its supervisor was not running: restarting it (running parts are adopted)")
            _start_supervisor(config.name)
            wait_ready(config.name, len(rec.config.nodes), timeout, progress)
            return "restarted"
        raise ClusterError(f"cluster {config.name!r} has leftovers of an earlier run; "
                           f"run `podnet down --cluster {config.name}` first")
    sdir = state_dir(config.name)
    sdir.mkdir(parents=True, exist_ok=True)
    os.chmod(sdir, 0o700)
    try:
        topo = plan(config)
    except TopologyError as e:
        raise ClusterError(str(e)) from None
    url = store_url or f"sqlite://{sdir / 'store.db'}"
    # kubectl's HTTPS port on 127.0.0.1: chosen once, kept across restarts
    options = {**options, "apiserver_port": options.get("apiserver_port") or kubeconfig.free_port()}
    rec = state.ClusterRecord(config, url, topo.namespaces, options)
    rec.save()
    progress(f"creating namespaces: {', '.join(topo.namespaces)}")
    network.create(topo)
    where = (f"subnets {', '.join(config.subnets)} joined by {topo.router_ns}" if topo.router_ns
             else config.node_cidr)
    progress(f"{config.network} pod network between {len(topo.nodes)} nodes on {where}")
    _start_supervisor(config.name)
    progress("control plane and node agents starting")
    wait_ready(config.name, len(config.nodes), timeout, progress)
    install_addons(config, progress)
    return "created"


def install_addons(config: ClusterConfig, progress: Progress, timeout: float = 60.0) -> None:
    """Apply the cluster's system objects (kube-dns, ...) from ``podnet.cluster.addons`` and
    wait until each Deployment among them has a ready replica (DNS answers before `up` returns)."""
    from podnet.apiserver.apply import apply_all
    from podnet.apiserver.client import Client
    from podnet.cluster import addons

    objs = addons.manifests(config)
    if not objs:
        return

    async def run() -> list[str]:
        async with Client(socket_path=str(apiserver_socket(config.name))) as c:
            return await apply_all(c, objs)

    for line in asyncio.run(run()):
        progress(f"addon {line}")
    deployments = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objs
                   if o.get("kind") == "Deployment"]

    async def ready() -> bool:
        async with Client(socket_path=str(apiserver_socket(config.name))) as c:
            for ns, name in deployments:
                d = await c.get("deployments", ns, name)
                if int((d.get("status") or {}).get("readyReplicas") or 0) < 1:
                    return False
        return True

    deadline = time.monotonic() + timeout
    while deployments and time.monotonic() < deadline:
        if asyncio.run(ready()):
            progress("cluster add-ons ready: " + ", ".join(f"{ns}/{n}" for ns, n in deployments))
            return
        time.sleep(0.2)
    if deployments:
        progress(f"warning: add-ons not ready after {timeout:.0f}s; see `podnet get pods -n kube-system`")


def _start_supervisor(cluster: str) -> None:
    sdir = state_dir(cluster)
    processes.spawn([sys.executable, "-m", "podnet.cluster.supervisor", cluster],
                    sdir / "supervisor.pid", sdir / "supervisor.log")


def wait_ready(cluster: str, nodes: int, timeout: float, progress: Progress) -> None:
    from podnet.apiserver.client import Client

    deadline = time.monotonic() + timeout
    sock = apiserver_socket(cluster)

    async def ready_nodes() -> list[str]:
        async with Client(socket_path=str(sock)) as c:
            items, _ = await c.list("nodes")
        return [n["metadata"]["name"] for n in items if any(
            cond.get("type") == "Ready" and cond.get("status") == "True"
            for cond in (n.get("status") or {}).get("conditions") or [])]

    seen: list[str] = []
    while time.monotonic() < deadline:
        if sock.exists():
            with contextlib.suppress(Exception):
                ready = asyncio.run(ready_nodes())
                for n in ready:
                    if n not in seen:
                        seen.append(n)
                        progress(f"node {n} Ready")
                if len(ready) >= nodes:
                    return
        time.sleep(0.2)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {nodes} Ready nodes "
                       f"(ready: {', '.join(seen) or 'none'}); logs in {state_dir(cluster)}")


@dataclass
class DownReport:
    processes: int = 0
    namespaces: int = 0
    state_removed: bool = False


def down(cluster: str, progress: Progress) -> DownReport:
    """Remove everything the cluster made; idempotent."""
    report = DownReport()
    rec = state.load(cluster)
    sdir = state_dir(cluster)
    pid = supervisor_pid(cluster)
    if pid is not None:
        processes.terminate(pid, 15.0)
        report.processes += 1
    found = [p for p in (processes.find(f, m) for f, m in _pid_files(cluster, rec)) if p is not None]
    processes.terminate_all(found)
    report.processes += len(found)
    owned = set(rec.namespaces if rec else []) | _pod_namespaces(cluster)
    inside = [p for ns in sorted(owned) if netns.exists(ns) for p in iproute.pids_in(ns)]
    processes.terminate_all(inside, 2.0)
    report.processes += len(inside)
    report.namespaces = len(network.remove(sorted(owned)))
    if sdir.exists():
        shutil.rmtree(sdir, ignore_errors=True)
        report.state_removed = True
    return report


def _pod_namespaces(cluster: str) -> set[str]:
    """Pod sandboxes the agents recorded, plus unrecorded ``pn-<cluster>-<ns>.<pod>`` ones
    that no other cluster with a longer name could own."""
    from podnet.agent.pods import PodRecord

    found: set[str] = set()
    for f in (state_dir(cluster) / "nodes").glob("*/pods/*.json"):
        with contextlib.suppress(Exception):
            found.add(PodRecord.load(f).netns)
    prefix = netns_prefix(cluster)
    others = [netns_prefix(c) for c in clusters() if c != cluster and netns_prefix(c).startswith(prefix)]
    for n in netns.names():
        if n.startswith(prefix) and "." in n and not any(n.startswith(o) for o in others):
            found.add(n)
    return found


def _pid_files(cluster: str, rec: state.ClusterRecord | None) -> list[tuple[Any, list[str]]]:
    sdir = state_dir(cluster)
    out: list[tuple[Any, list[str]]] = [(sdir / "controlplane.pid", ["controlplane", "--cluster", cluster])]
    nodes = [n.name for n in rec.config.nodes] if rec else \
        [p.name for p in (sdir / "nodes").iterdir()] if (sdir / "nodes").is_dir() else []
    for n in nodes:
        paths = NodePaths(cluster, n)
        out.append((paths.root / "agent.pid", ["podnet.agent.main", cluster, n]))
        out.append((paths.root / "netexec.pid", ["podnet.agent.netexec", str(paths.netexec)]))
    return out


def clusters() -> list[str]:
    root = state_dir("x").parent
    return sorted(p.name for p in root.iterdir() if (p / "cluster.json").exists()) if root.is_dir() else []
