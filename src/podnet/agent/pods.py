"""One pod on one node: its sandbox, network, containers and their record on disk.

``PodRecord`` is what the agent knows about a pod it runs, saved as JSON under
``<node>/pods/<uid>.json`` after every change, so a restarted agent adopts the
running pod instead of duplicating or leaking it. ``PodRuntime`` does the work:
sandbox (a named netns plus ``/etc/netns/<netns>/{resolv.conf,hosts}``), CNI
ADD/DEL, the containers (built-in server or a program), and tear-down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from podnet.agent import containers as ctr
from podnet.agent.builtin import builtin_ports as builtin_ports_of
from podnet.agent.netexec import PodSpec, remove_spec, write_spec
from podnet.agent.paths import NodePaths
from podnet.agent.status import ContainerView, PodView
from podnet.api.kinds import Obj
from podnet.kernel import netns

log = logging.getLogger("podnet.agent")
ETC_NETNS = Path("/etc/netns")


@dataclass
class ContainerRecord:
    name: str
    builtin: bool
    proc: dict[str, Any] | None = None
    restart_count: int = 0
    last_exit: int | None = None
    finished_at: float | None = None
    next_start: float = 0.0
    env: dict[str, str] = field(default_factory=dict)
    run_as: int | None = None
    done: bool = False  # exited and not to be restarted

    def process(self) -> ctr.Proc | None:
        return ctr.Proc(**self.proc) if self.proc else None


@dataclass
class PodRecord:
    uid: str
    namespace: str
    name: str
    netns: str
    pod_ip: str | None = None
    start_time: float = field(default_factory=time.time)
    containers: dict[str, ContainerRecord] = field(default_factory=dict)
    sandbox_error: str | None = None

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{self.uid}.tmp"
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, directory / f"{self.uid}.json")

    @staticmethod
    def load(path: Path) -> PodRecord:
        d = json.loads(path.read_text())
        d["containers"] = {k: ContainerRecord(**v) for k, v in d.get("containers", {}).items()}
        return PodRecord(**d)


class PodRuntime:
    """Sets up, supervises and tears down one pod. Blocking methods run in a thread."""

    def __init__(self, paths: NodePaths, node: str, host_ip: str, record: PodRecord) -> None:
        self.paths, self.node, self.host_ip, self.record = paths, node, host_ip, record

    # -- sandbox and network --
    def ensure_sandbox(self, resolv: str, hosts: str) -> None:
        if not netns.exists(self.record.netns):
            netns.create(self.record.netns, ipv6_on_new_links=False)
        etc = ETC_NETNS / self.record.netns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(resolv)
        (etc / "hosts").write_text(hosts)
        (etc / "hostname").write_text(self.record.name + "\n")

    def write_hosts(self, hosts: str) -> None:
        etc = ETC_NETNS / self.record.netns
        if etc.is_dir():
            (etc / "hosts").write_text(hosts)

    # -- containers --
    def start_containers(self, pod: Obj, envs: dict[str, dict[str, str]]) -> None:
        spec = pod.get("spec") or {}
        builtin_ports: list[tuple[int, str]] = []
        for c in spec.get("containers") or []:
            name = c["name"]
            rec = self.record.containers.get(name)
            served = builtin_ports_of(c)
            builtin = served is not None
            if rec is None:
                run_as = (c.get("securityContext") or {}).get("runAsUser",
                          (spec.get("securityContext") or {}).get("runAsUser"))
                rec = ContainerRecord(name, builtin, env=envs.get(name, {}), run_as=run_as)
                self.record.containers[name] = rec
            if served is not None:
                builtin_ports += list(served)
                if rec.proc is None:
                    rec.proc = {"pid": 0, "start_ticks": 0, "started_at": time.time(), "exit_file": ""}
            elif rec.proc is None and not rec.done:
                self._spawn(c, rec)
        if builtin_ports:
            write_spec(self.paths.netexec, PodSpec(self.record.uid, self.record.netns, self.record.name,
                                                   self.record.namespace, self.node,
                                                   self.record.pod_ip or "", tuple(builtin_ports)))

    async def wait_serving(self, pod: Obj, nudge: Callable[[], None], timeout: float = 3.0) -> bool:
        """Wait until the node's built-in server accepts on the pod's TCP ports, so the pod is
        not reported Running before it serves; ``nudge`` re-signals the server (a reload
        request can arrive while it is reloading). False if it still refuses at ``timeout``."""
        ports = [port for c in (pod.get("spec") or {}).get("containers") or []
                 for port, proto in builtin_ports_of(c) or () if proto == "TCP"]
        ip = self.record.pod_ip
        if not ports or not ip:
            return True
        deadline = time.monotonic() + timeout
        next_nudge = time.monotonic() + 0.3
        for port in ports:
            while True:
                try:
                    _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 1.0)
                    writer.close()
                    break
                except (OSError, TimeoutError):
                    now = time.monotonic()
                    if now >= deadline:
                        return False
                    if now >= next_nudge:
                        nudge()
                        next_nudge = now + 0.3
                    await asyncio.sleep(0.02)
        return True

    def _spawn(self, c: Obj, rec: ContainerRecord) -> None:
        logdir = self.paths.logs(self.record.namespace, self.record.name, self.record.uid)
        argv = [str(a) for a in [*(c.get("command") or []), *(c.get("args") or [])]]
        env = dict(rec.env)
        env.setdefault("HOSTNAME", self.record.name)
        p = ctr.start(self.record.netns, argv, env, logdir / f"{c['name']}.log",
                      logdir / f"{c['name']}.exit", rec.run_as, c.get("workingDir"))
        rec.proc = p.to_json()

    def supervise(self, pod: Obj, restart_base: float) -> bool:
        """Restart exited containers per restartPolicy and back-off; True if anything changed."""
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        changed = False
        now = time.time()
        for c in (pod.get("spec") or {}).get("containers") or []:
            rec = self.record.containers.get(c["name"])
            if rec is None or rec.builtin or rec.done:
                continue
            p = rec.process()
            if p is not None and ctr.alive(p):
                continue
            if p is not None:  # just exited
                rec.last_exit = ctr.exit_code(p)
                rec.finished_at = now
                rec.proc = None
                changed = True
                if not ctr.should_restart(policy, rec.last_exit):
                    rec.done = True
                    continue
                rec.next_start = now + ctr.backoff(rec.restart_count + 1, restart_base)
            if rec.proc is None and now >= rec.next_start:  # exited earlier, back-off over
                rec.restart_count += 1
                self._spawn(c, rec)
                changed = True
        return changed

    def kill_container(self, name: str) -> None:
        """Liveness failure: stop the container; ``supervise`` restarts it per policy."""
        rec = self.record.containers.get(name)
        p = rec.process() if rec else None
        if rec is not None and p is not None and not rec.builtin:
            ctr.stop(p, 2.0)

    def view(self, ready: dict[str, bool]) -> PodView:
        views = []
        for name, rec in self.record.containers.items():
            p = rec.process()
            running = rec.builtin or (p is not None and ctr.alive(p))
            waiting = None
            if not running and not rec.done and rec.last_exit is not None:
                waiting = "CrashLoopBackOff"
            views.append(ContainerView(name, running, running and ready.get(name, True),
                                       rec.restart_count, (rec.proc or {}).get("started_at"),
                                       rec.last_exit, waiting, rec.finished_at))
        phase = None
        if views and all(self.record.containers[v.name].done for v in views):
            phase = "Succeeded" if all(v.last_exit == 0 for v in views) else "Failed"
        return PodView(self.record.pod_ip, self.host_ip, self.record.start_time, views, phase,
                       self.record.sandbox_error)

    # -- tear-down --
    def stop_containers(self, grace: float) -> None:
        remove_spec(self.paths.netexec, self.record.uid)
        for rec in self.record.containers.values():
            p = rec.process()
            if p is not None and not rec.builtin:
                ctr.stop(p, grace)

    def remove_sandbox(self) -> None:
        # anything still running in the pod's namespace goes with it
        from podnet.kernel import iproute

        for pid in iproute.pids_in(self.record.netns) if netns.exists(self.record.netns) else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        netns.delete(self.record.netns)
        shutil.rmtree(ETC_NETNS / self.record.netns, ignore_errors=True)

    def forget(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.paths.pods / f"{self.record.uid}.json").unlink()
