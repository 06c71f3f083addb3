"""Keep the node's built-in server process (``podnet.agent.netexec``) running.

The process is started detached (its own session, so it outlives an agent
restart), recorded in ``<node>/netexec.pid``, and told to re-read its spec
directory with SIGHUP. A pid is trusted only if its command line is ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

from podnet.agent.paths import NodePaths
from podnet.cluster import processes

MODULE = "podnet.agent.netexec"


def _running(pid_file: Path, spec_dir: Path) -> int | None:
    return processes.find(pid_file, [MODULE, str(spec_dir)])


def ensure(paths: NodePaths) -> int:
    """Start the server if it is not running, else ask it to reload; returns its pid."""
    pid_file = paths.root / "netexec.pid"
    pid = _running(pid_file, paths.netexec)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGHUP)
            return pid
    paths.netexec.mkdir(parents=True, exist_ok=True)
    return processes.spawn([sys.executable, "-m", MODULE, str(paths.netexec)], pid_file,
                           paths.root / "netexec.log")


def stop(paths: NodePaths) -> None:
    pid = _running(paths.root / "netexec.pid", paths.netexec)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
