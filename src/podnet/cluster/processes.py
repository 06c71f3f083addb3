"""Start, find and stop a cluster's long-running processes by pid file.

A pid file is trusted only when ``/proc/<pid>/cmdline`` still contains the
markers given when it was written (the module and ``--cluster NAME``), so a
stale file or a recycled pid never leads to killing a stranger.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def cmdline(pid: int) -> list[str]:
    try:
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except OSError:
        return []


def find(pid_file: Path, markers: Sequence[str]) -> int | None:
    """The live pid recorded in ``pid_file`` whose command line holds every marker."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    args = cmdline(pid)
    if args and all(m in args for m in markers):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                return None
        except OSError:
            return None
        return pid
    return None


def spawn(argv: Sequence[str], pid_file: Path, log_file: Path, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` detached (own session), logging to ``log_file``; record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(str(proc.pid))
    os.replace(tmp, pid_file)
    return proc.pid


def terminate(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; returns when the process is gone."""
    terminate_all([pid], timeout)


def terminate_all(pids: Sequence[int], timeout: float = 5.0) -> None:
    """SIGTERM every process at once, SIGKILL those still there after ``timeout``."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    left = list(pids)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        left = [pid for pid in left if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        if left:
            time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
