"""Keep the node's built-in server process (``podnet.agent.netexec``) running.

The process is started detached (its own session, so it outlives an agent
restart), recorded in ``<node>/netexec.pid``, and told to re-read its spec
directory with SIGHUP. A pid is trusted only if its command line is ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from podnet.agent.paths import NodePaths

MODULE = "podnet.agent.netexec"


def _running(pid_file: Path, spec_dir: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if MODULE.encode() in cmdline and str(spec_dir).encode() in cmdline:
        return pid
    return None


def ensure(paths: NodePaths) -> int:
    """Start the server if it is not running, else ask it to reload; returns its pid."""
    pid_file = paths.root / "netexec.pid"
    pid = _running(pid_file, paths.netexec)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGHUP)
            return pid
    paths.netexec.mkdir(parents=True, exist_ok=True)
    with open(paths.root / "netexec.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", MODULE, str(paths.netexec)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(str(proc.pid))
    os.replace(tmp, pid_file)
    return proc.pid


def stop(paths: NodePaths) -> None:
    pid = _running(paths.root / "netexec.pid", paths.netexec)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
