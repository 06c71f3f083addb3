"""Start a throwaway single-member etcd (Debian's ``/usr/bin/etcd``) for tests.

``EtcdServer`` picks free client and peer ports on 127.0.0.1, keeps its data in
a temporary directory (on /dev/shm when available, so fsync costs nothing),
waits until ``/health`` answers and kills the process and removes the directory
on ``stop()``. Used by the session-scoped ``etcd_url`` fixture in conftest.py;
also runnable by hand: ``python tests/etcd_server.py`` prints the URL and waits.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ETCD_BINARY = "/usr/bin/etcd"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EtcdServer:
    """One etcd process; ``url`` is ``http://127.0.0.1:<client port>``."""

    def __init__(self, binary: str = ETCD_BINARY) -> None:
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None
        self.data_dir = ""
        self.url = ""
        self._log: Path | None = None

    def start(self, timeout: float = 30.0) -> str:
        shm = "/dev/shm"
        parent = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
        self.data_dir = tempfile.mkdtemp(prefix="podnet-etcd-", dir=parent)
        client, peer = _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        self._log = Path(self.data_dir) / "etcd.log"
        args = [
            self.binary,
            "--name", "podnet-test",
            "--data-dir", str(Path(self.data_dir) / "data"),
            "--listen-client-urls", self.url,
            "--advertise-client-urls", self.url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"podnet-test={peer_url}",
            "--initial-cluster-state", "new",
            "--log-level", "warn",
            "--logger", "zap",
        ]  # fmt: skip
        with open(self._log, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.healthy():
                return self.url
            time.sleep(0.1)
        output = self._log.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"etcd did not become healthy at {self.url}:\n{output}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = ""


if __name__ == "__main__":
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = EtcdServer()
    print(server.start(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
