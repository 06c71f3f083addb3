"""Cluster life-cycle verbs: up, down, status, exec, logs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from podnet.cli.connect import cluster_name
from podnet.cli.resources import CliError

ClusterOpt = Annotated[str | None, typer.Option("--cluster", envvar="PODNET_CLUSTER", help="Cluster name.")]


def _progress(msg: str) -> None:
    print(f"  • {msg}", flush=True)


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command()(status)
    app.command("exec")(exec_)
    app.command()(logs)


def up(
    cluster: ClusterOpt = None,
    nodes: Annotated[int, typer.Option("--nodes", help="Number of nodes.")] = 3,
    network: Annotated[str, typer.Option("--network", help="flat (host-gw routes) or vxlan.")] = "flat",
    pod_cidr: Annotated[str, typer.Option("--pod-cidr")] = "10.244.0.0/16",
    service_cidr: Annotated[str, typer.Option("--service-cidr")] = "10.96.0.0/12",
    store: Annotated[str | None, typer.Option("--store", help="sqlite (default) or etcd://HOST:PORT")] = None,
    config_file: Annotated[str | None, typer.Option("--config", "-f", help="Cluster YAML.")] = None,
    node_grace: Annotated[float, typer.Option("--node-monitor-grace-period")] = 40.0,
    heartbeat: Annotated[float, typer.Option("--heartbeat")] = 10.0,
    restart_backoff: Annotated[float, typer.Option("--restart-backoff")] = 10.0,
    timeout: Annotated[float, typer.Option("--timeout")] = 90.0,
    cni: Annotated[str, typer.Option("--cni", help="podnet (default) or reference plugins.")] = "podnet",
) -> None:
    """Bring up a cluster: underlay, nodes, external namespace, control plane, agents."""
    from podnet.cluster import configfile, lifecycle

    name = cluster_name(cluster)
    try:
        if config_file:
            cfg = configfile.load(config_file, {"name": name, "nodes": nodes, "network": network,
                                                "pod_cidr": pod_cidr, "service_cidr": service_cidr})
        else:
            cfg = configfile.build(name, nodes, network, pod_cidr, service_cidr)
    except configfile.ConfigFileError as e:
        raise CliError(f"error: {e}") from None
    if store == "sqlite":
        store = None
    start = time.monotonic()
    from podnet.cluster import state

    if state.load(cfg.name) is None:
        print(f"Creating cluster {cfg.name!r} ({len(cfg.nodes)} nodes, {cfg.network} network, "
              f"pods {cfg.pod_cidr}, services {cfg.service_cidr})")
    else:
        print(f"Cluster {cfg.name!r} exists")
    if cni not in ("podnet", "reference"):
        raise typer.BadParameter("--cni must be podnet or reference")
    opts: dict[str, object] = {"node_grace": node_grace, "heartbeat": heartbeat,
                               "restart_backoff": restart_backoff, "cni": cni}
    try:
        made = lifecycle.up(cfg, store, opts, _progress, timeout)
    except lifecycle.ClusterError as e:
        raise CliError(f"error: {e}") from None
    if made == "running":
        print(f"cluster {cfg.name!r} is already running; nothing changed")
        return
    flag = f" --cluster {cfg.name}" if cfg.name != "podnet" else ""
    from podnet.cluster.kubeconfig import kubeconfig_path

    kube = kubeconfig_path(cfg.name)
    kubectl = f"  export KUBECONFIG={kube}   # then kubectl works too\n" if kube.exists() else ""
    print(f"Cluster {cfg.name!r} is up in {time.monotonic() - start:.1f}s. Next:\n"
          f"  podnet apply{flag} -f examples/app\n"
          f"{kubectl}"
          f"  podnet get pods -A -o wide{flag}\n"
          f"  podnet exec{flag} -n shop POD -- curl -s http://backend:8080/hostname\n"
          f"  podnet exec{flag} --external -- curl -s http://{cfg.nodes[0].ip}:30080/\n"
          f"  podnet down{flag}")


def down(cluster: ClusterOpt = None) -> None:
    """Remove everything the cluster made (idempotent; works after a crash too)."""
    from podnet.cluster import lifecycle

    name = cluster_name(cluster)
    r = lifecycle.down(name, _progress)
    if not (r.processes or r.namespaces or r.state_removed):
        print(f"cluster {name!r}: nothing to remove")
    else:
        print(f"cluster {name!r} removed: {r.processes} processes stopped, {r.namespaces} namespaces deleted")


def status(cluster: ClusterOpt = None) -> None:
    """Show the control plane, nodes and agents of a cluster."""
    from podnet.cluster import lifecycle, state
    from podnet.cluster.status import render

    name = cluster_name(cluster)
    rec = state.load(name)
    if rec is None:
        known = lifecycle.clusters()
        hint = f" (clusters: {', '.join(known)})" if known else ""
        raise CliError(f"cluster {name!r} does not exist{hint}")
    print(render(rec))


def _fetch_pod(cluster: str, namespace: str, pod: str) -> tuple[dict, str, str]:  # type: ignore[type-arg]
    """The pod object, its node and uid; a CliError when missing or not scheduled."""
    from podnet.cli.connect import with_client
    from podnet.store.base import NotFound

    async def get(c: object) -> dict:  # type: ignore[type-arg]
        return await c.get("pods", namespace, pod)  # type: ignore[attr-defined,no-any-return]

    try:
        obj = with_client(cluster, get)
    except NotFound:
        raise CliError(f'Error from server (NotFound): pods "{pod}" not found') from None
    node = (obj.get("spec") or {}).get("nodeName")
    if not node:
        raise CliError(f"error: pod {namespace}/{pod} is not scheduled to a node yet")
    return obj, str(node), str(obj["metadata"]["uid"])


def _pod_target(
    cluster: str, namespace: str, pod: str, container: str | None
) -> tuple[str, dict[str, str], int | None]:
    """(netns, env, uid) for exec into a pod's container."""
    from podnet.agent.paths import NodePaths, pod_netns_name
    from podnet.agent.pods import PodRecord

    _obj, node, uid = _fetch_pod(cluster, namespace, pod)
    rec_file = NodePaths(cluster, node).pods / f"{uid}.json"
    if not rec_file.exists():
        raise CliError(f"error: pod {namespace}/{pod} is not running yet on {node}")
    rec = PodRecord.load(rec_file)
    names = list(rec.containers)
    cname = container or (names[0] if names else "")
    if cname not in rec.containers:
        raise CliError(f"error: container {cname} is not valid for pod {pod}")
    crec = rec.containers[cname]
    return pod_netns_name(cluster, namespace, pod), crec.env, crec.run_as


def exec_(
    command: Annotated[list[str], typer.Argument(help="POD -- CMD ARGS (CMD with --node/--external)")],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    container: Annotated[str | None, typer.Option("--container", "-c")] = None,
    node: Annotated[str | None, typer.Option("--node", help="Run in a node's namespace.")] = None,
    external: Annotated[bool, typer.Option("--external", help="Run in the outside world.")] = False,
    stdin: Annotated[bool, typer.Option("--stdin", "-i")] = False,
    tty: Annotated[bool, typer.Option("--tty", "-t")] = False,
    cluster: ClusterOpt = None,
) -> None:
    """Run a host command inside a pod's, a node's or the external namespace."""
    from podnet.cluster.topology import netns_prefix

    name = cluster_name(cluster)
    args = [a for a in command if a != "--"]
    env = dict(os.environ)
    user: list[str] = []
    if node or external:
        netns = netns_prefix(name) + ("external" if external else str(node))
    else:
        if len(args) < 2:
            raise CliError("error: usage: podnet exec [-n NS] POD [-c C] -- CMD [ARGS...]")
        pod, args = args[0], args[1:]
        netns, penv, uid = _pod_target(name, namespace or "default", pod, container)
        env = {"PATH": env.get("PATH", "/usr/bin:/bin"), "HOME": "/", "TERM": env.get("TERM", "xterm"),
               **penv, "HOSTNAME": pod}
        if uid != 0:
            u = 65534 if uid is None else uid
            user = ["setpriv", f"--reuid={u}", f"--regid={u}", "--clear-groups", "--"]
    if not Path(f"/run/netns/{netns}").exists():
        raise CliError(f"error: namespace {netns} does not exist (is cluster {name!r} up?)")
    if not args:
        raise CliError("error: no command given")
    proc = subprocess.run(["ip", "netns", "exec", netns, *user, *args], env=env,
                          stdin=None if (stdin or tty) else subprocess.DEVNULL)
    sys.exit(proc.returncode)


def logs(
    pod: Annotated[str, typer.Argument()],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    container: Annotated[str | None, typer.Option("--container", "-c")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    cluster: ClusterOpt = None,
) -> None:
    """Print a container's output (a pod with the built-in server has none)."""
    from podnet.agent.paths import NodePaths

    name, ns = cluster_name(cluster), namespace or "default"
    obj, node, uid = _fetch_pod(name, ns, pod)
    containers = [c["name"] for c in (obj.get("spec") or {}).get("containers") or []]
    cname = container or (containers[0] if containers else "")
    if cname not in containers:
        raise CliError(f"error: container {cname} is not valid for pod {pod}")
    path = NodePaths(name, node).logs(ns, pod, uid) / f"{cname}.log"
    if not path.exists():
        return
    with open(path, "rb") as f:
        while True:
            chunk = f.read(65536)
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            elif follow:
                time.sleep(0.2)
            else:
                break
