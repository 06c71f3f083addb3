"""Container processes: start inside the pod's namespace, watch, restart, stop.

A container with ``command``/``args`` runs a program from the host filesystem
inside the pod's network namespace through ``ip netns exec`` (which also binds
``/etc/netns/<netns>/resolv.conf`` and ``hosts`` over ``/etc``), as an
unprivileged user (65534) unless ``securityContext.runAsUser`` says otherwise,
with stdout/stderr appended to its log file. A small ``sh`` parent records the
exit code in a file, so an agent that was killed and restarted still learns
how a container ended. Processes run in their own session: they outlive the
agent, and the agent finds them again from the pod's state file (pid plus the
kernel's start time, so a recycled pid is never mistaken for the container).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

NOBODY = 65534
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Proc:
    """A running (or finished) container process as recorded in the pod's state file."""

    pid: int
    start_ticks: int
    started_at: float
    exit_file: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def alive(p: Proc) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(p.pid, os.WNOHANG)  # reap our own child if it exited
    return start_ticks(p.pid) == p.start_ticks


def exit_code(p: Proc) -> int | None:
    """The recorded exit code of a finished container (None: killed before recording)."""
    try:
        return int(Path(p.exit_file).read_text().strip())
    except (OSError, ValueError):
        return None


def start(
    netns: str,
    argv: list[str],
    env: dict[str, str],
    log_file: Path,
    exit_file: Path,
    run_as: int | None = None,
    workdir: str | None = None,
) -> Proc:
    """Start ``argv`` in ``netns`` as ``run_as`` (default nobody); returns its record."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        exit_file.unlink()
    uid = NOBODY if run_as is None else run_as
    user = [] if uid == 0 else ["setpriv", f"--reuid={uid}", f"--regid={uid if uid != NOBODY else NOBODY}",
                                "--clear-groups", "--"]
    script = '"$@"; echo $? > "$0"'
    full = ["ip", "netns", "exec", netns, "sh", "-c", script, str(exit_file), *user, *argv]
    environment = {"PATH": DEFAULT_PATH, "HOME": "/"}
    environment.update(env)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            full, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=environment,
            cwd=workdir or "/", start_new_session=True,
        )
    ticks = None
    for _ in range(50):
        ticks = start_ticks(proc.pid)
        if ticks is not None:
            break
        time.sleep(0.001)
    return Proc(proc.pid, ticks or 0, time.time(), str(exit_file))


def stop(p: Proc, grace: float) -> None:
    """SIGTERM the container's process group, SIGKILL after ``grace`` seconds."""
    if not alive(p):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(p):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, signal.SIGKILL)
    for _ in range(100):
        if not alive(p):
            return
        time.sleep(0.01)


def backoff(restarts: int, base: float = 10.0, cap: float = 300.0) -> float:
    """The kubelet's crash back-off: 10 s, 20 s, 40 s ... capped at 5 minutes."""
    return float(min(cap, base * (2 ** max(0, restarts - 1))))


def should_restart(policy: str, code: int | None) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return code != 0
    return False
