"""The cluster's supervisor: keeps the control plane and every node agent running.

Like systemd for a real node, one small process per cluster starts the control
plane (in the host namespace: it listens on a unix socket and, for kubectl, on
127.0.0.1 at the port the cluster record names) and one agent
per node (inside the node's network namespace, via ``nsenter --net``), and restarts any
that exits, with back-off. It adopts processes that are already running (pid
file + command line), so killing the supervisor itself and starting it again
duplicates nothing. SIGTERM stops agents, then the control plane, then itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from podnet.agent.paths import NodePaths
from podnet.api.config import state_dir
from podnet.cluster import processes, state
from podnet.cluster.topology import plan

log = logging.getLogger("podnet.supervisor")


@dataclass
class Child:
    name: str
    argv: list[str]
    markers: list[str]
    pid_file: Path
    log_file: Path
    failures: int = 0
    next_start: float = 0.0
    started: float = field(default=0.0)


def children(cluster: str) -> list[Child]:
    rec = state.load(cluster)
    if rec is None:
        raise SystemExit(f"cluster {cluster!r} has no record at {state.record_path(cluster)}")
    cfg, sdir = rec.config, state_dir(cluster)
    py = sys.executable
    opts = rec.options
    cp = Child(
        "controlplane",
        [py, "-m", "podnet.cli.main", "controlplane", "--cluster", cluster, "--store", rec.store_url,
         "--service-cidr", cfg.service_cidr, "--pod-cidr", cfg.pod_cidr,
         "--node-monitor-grace-period", str(opts.get("node_grace", 40.0))],
        ["controlplane", "--cluster", cluster], sdir / "controlplane.pid", sdir / "controlplane.log")
    if opts.get("apiserver_port"):
        # HTTPS for kubectl on loopback only; the token and certificates are in the state dir
        cp.argv += ["--listen", f"127.0.0.1:{int(opts['apiserver_port'])}"]
    out = [cp]
    topo = plan(cfg)
    for n in topo.nodes:
        paths = NodePaths(cluster, n.name)
        # nsenter --net, not `ip netns exec`: the latter gives the agent a private mount
        # namespace, and pod namespaces it creates would not show in the host's /run/netns.
        argv = ["nsenter", f"--net=/run/netns/{n.netns}", "--", py, "-m", "podnet.agent.main",
                "--cluster", cluster, "--node", n.name]
        for flag in ("heartbeat", "restart_backoff", "cni"):
            if flag in opts:
                argv += [f"--{flag.replace('_', '-')}", str(opts[flag])]
        out.append(Child(f"agent/{n.name}", argv, ["podnet.agent.main", cluster, n.name],
                         paths.root / "agent.pid", paths.agent_log))
    return out


def supervise(cluster: str, stop_flag: list[bool]) -> None:
    kids = children(cluster)
    while not stop_flag[0]:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        now = time.monotonic()
        for c in kids:
            if processes.find(c.pid_file, c.markers) is not None:
                if c.started and now - c.started > 60:
                    c.failures = 0
                continue
            if now < c.next_start:
                continue
            if c.started:
                c.failures += 1
                log.warning("%s exited; restarting (attempt %d)", c.name, c.failures)
            c.pid_file.parent.mkdir(parents=True, exist_ok=True)
            processes.spawn(c.argv, c.pid_file, c.log_file)
            c.started = now
            c.next_start = now + min(30.0, 0.5 * (2 ** c.failures))
            if c.name == "controlplane":
                _wait_socket(state_dir(cluster) / "apiserver.sock", 10)
        time.sleep(0.2)
    # agents all at once, then the control plane they talk to
    agents = [processes.find(c.pid_file, c.markers) for c in kids if c.name != "controlplane"]
    processes.terminate_all([p for p in agents if p is not None])
    cp = processes.find(kids[0].pid_file, kids[0].markers)
    if cp is not None:
        processes.terminate(cp)


def _wait_socket(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not path.exists():
        time.sleep(0.05)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    cluster = sys.argv[1]
    stop_flag = [False]

    def on_term(_sig: int, _frame: object) -> None:
        stop_flag[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    supervise(cluster, stop_flag)


if __name__ == "__main__":
    main()
