"""Readiness and liveness probes (httpGet, tcpSocket, exec) with Kubernetes' timing.

The agent runs in the node's namespace, so httpGet and tcpSocket probes reach
the pod's IP over the node's pod bridge exactly as the kubelet's do; exec
probes run the command inside the pod's namespace. ``ProbeTracker`` applies
initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold and
failureThreshold.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from podnet.api.kinds import Obj


def _port(value: Any, container: Obj) -> int:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    for p in container.get("ports") or []:
        if p.get("name") == value:
            return int(p["containerPort"])
    raise ValueError(f"port {value!r} is not a containerPort name of container {container.get('name')}")


async def http_get(spec: dict[str, Any], pod_ip: str, container: Obj, timeout: float) -> bool:
    host = spec.get("host") or pod_ip
    port = _port(spec.get("port"), container)
    path = spec.get("path") or "/"
    headers = "".join(f"{h['name']}: {h['value']}\r\n" for h in spec.get("httpHeaders") or [])
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: podnet-probe\r\n"
                     f"{headers}Connection: close\r\n\r\n".encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        parts = line.split()
        return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
    except (OSError, TimeoutError, ValueError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def tcp_socket(spec: dict[str, Any], pod_ip: str, container: Obj, timeout: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(spec.get("host") or pod_ip, _port(spec.get("port"), container)), timeout)
    except (OSError, TimeoutError, ValueError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


async def exec_probe(spec: dict[str, Any], netns: str, timeout: float) -> bool:
    cmd = [str(c) for c in spec.get("command") or []]
    if not cmd:
        return False
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", netns, *cmd,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        return await asyncio.wait_for(proc.wait(), timeout) == 0
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return False


async def run_once(probe: Obj, pod_ip: str, netns: str, container: Obj) -> bool:
    timeout = float(probe.get("timeoutSeconds", 1))
    if "httpGet" in probe:
        return await http_get(probe["httpGet"], pod_ip, container, timeout)
    if "tcpSocket" in probe:
        return await tcp_socket(probe["tcpSocket"], pod_ip, container, timeout)
    if "exec" in probe:
        return await exec_probe(probe["exec"], netns, timeout)
    return True  # grpc and unknown handlers: not supported, never block readiness


@dataclass
class ProbeTracker:
    """One probe of one container: when to run next, and its current verdict."""

    probe: Obj
    kind: str  # "readiness" | "liveness"
    restart: int = 0  # the container restart this tracker judges; a restart starts afresh
    started: float = field(default_factory=time.monotonic)
    next_run: float = 0.0
    successes: int = 0
    failures: int = 0
    ok: bool = False

    def __post_init__(self) -> None:
        self.ok = self.kind == "liveness"
        self.next_run = self.started + float(self.probe.get("initialDelaySeconds", 0))

    def due(self, now: float) -> bool:
        return now >= self.next_run

    def record(self, success: bool, now: float) -> bool:
        """Take one result; returns True when the verdict changed."""
        self.next_run = now + float(self.probe.get("periodSeconds", 10))
        before = self.ok
        if success:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= int(self.probe.get("successThreshold", 1)):
                self.ok = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= int(self.probe.get("failureThreshold", 3)):
                self.ok = False
        return before != self.ok
