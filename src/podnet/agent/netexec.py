"""The built-in pod server, answering like agnhost netexec, one process per node.

A container without ``command`` runs this server on every declared
containerPort. One process serves every such pod of a node: for each pod it
opens its listening sockets *inside the pod's network namespace* (setns in this
thread, socket, back), so the sockets belong to the pod and the kernel delivers
the pod's traffic to them, while thousands of pods cost one process.

HTTP (TCP ports): ``/hostname`` (pod name), ``/clientip`` (peer ``ip:port``),
``/echo?msg=X``, ``/healthz``, ``/`` (JSON: pod, namespace, node, podIP,
clientIP, port) and ``/dial?request=..&host=..&port=..&protocol=http|udp&tries=N``
(connects *from* the pod, like agnhost, answering ``{"responses": [], "errors": []}``).
UDP ports answer datagrams ``hostname``, ``clientip`` and ``echo X``.

What to serve is a directory of JSON files, one per pod (written by the node
agent, see :func:`write_spec`); the process re-reads it on SIGHUP and every
second, so an agent restart or a server restart both converge from the files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from podnet.kernel import netns

log = logging.getLogger("podnet.netexec")


@dataclass(frozen=True)
class PodSpec:
    """What one pod serves; ``key`` is stable for the pod's lifetime (its uid)."""

    key: str
    netns: str
    pod: str
    namespace: str
    node: str
    pod_ip: str
    ports: tuple[tuple[int, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "netns": self.netns, "pod": self.pod, "namespace": self.namespace,
                "node": self.node, "podIP": self.pod_ip,
                "ports": [{"port": p, "protocol": proto} for p, proto in self.ports]}

    @staticmethod
    def from_json(d: dict[str, Any]) -> PodSpec:
        ports = tuple((int(p["port"]), str(p.get("protocol", "TCP"))) for p in d.get("ports", []))
        return PodSpec(str(d["key"]), str(d["netns"]), str(d["pod"]), str(d["namespace"]),
                       str(d.get("node", "")), str(d.get("podIP", "")), ports)


def write_spec(directory: Path, spec: PodSpec) -> None:
    """Atomically write one pod's spec file (the node agent calls this)."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{spec.key}.tmp"
    tmp.write_text(json.dumps(spec.to_json()))
    os.replace(tmp, directory / f"{spec.key}.json")


def remove_spec(directory: Path, key: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (directory / f"{key}.json").unlink()


def _socket_in(ns_path: str, kind: int, port: int) -> socket.socket:
    with netns.entered(ns_path):
        sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.setblocking(False)
    if kind == socket.SOCK_STREAM:
        sock.listen(512)
    return sock


def _response(status: int, body: str, ctype: str = "text/plain; charset=utf-8",
              keep_alive: bool = True) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "OK")
    data = body.encode()
    conn = "keep-alive" if keep_alive else "close"
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(data)}\r\nConnection: {conn}\r\n\r\n")
    return head.encode() + data


class PodServer:
    """The sockets of one pod and the answers they give."""

    def __init__(self, spec: PodSpec) -> None:
        self.spec = spec
        self.servers: list[asyncio.AbstractServer] = []
        self.transports: list[asyncio.BaseTransport] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for port, proto in self.spec.ports:
            try:
                if proto == "TCP":
                    sock = _socket_in(self.spec.netns, socket.SOCK_STREAM, port)
                    self.servers.append(await loop.create_server(
                        lambda p=port: _Http(self, p), sock=sock))  # type: ignore[misc]
                elif proto == "UDP":
                    sock = _socket_in(self.spec.netns, socket.SOCK_DGRAM, port)
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _Udp(self), sock=sock)
                    self.transports.append(transport)
                else:
                    log.warning("pod %s: %s port %d not served (kernel lacks %s)",
                                self.spec.key, proto, port, proto)
            except OSError as e:
                log.warning("pod %s: cannot serve %s/%d: %s", self.spec.key, proto, port, e)

    async def stop(self) -> None:
        for s in self.servers:
            s.close()
        for t in self.transports:
            t.close()
        for s in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.wait_closed(), 1)

    def answer(self, command: str, client: tuple[str, int]) -> str:
        """The UDP-style command protocol: hostname, clientip, echo X."""
        cmd, _, rest = command.strip().partition(" ")
        if cmd == "hostname":
            return self.spec.pod
        if cmd == "clientip":
            return f"{client[0]}:{client[1]}"
        if cmd == "echo":
            return rest
        return f"unknown command {cmd!r}"

    async def http(self, target: str, client: tuple[str, int], port: int) -> tuple[int, str, str]:
        url = urlsplit(target)
        q = parse_qs(url.query)
        path = url.path
        if path == "/hostname":
            return 200, self.spec.pod, "text/plain; charset=utf-8"
        if path == "/clientip":
            return 200, f"{client[0]}:{client[1]}", "text/plain; charset=utf-8"
        if path == "/echo":
            return 200, unquote(q.get("msg", [""])[0]), "text/plain; charset=utf-8"
        if path == "/healthz":
            return 200, "ok", "text/plain; charset=utf-8"
        if path == "/":
            body = {"pod": self.spec.pod, "namespace": self.spec.namespace, "node": self.spec.node,
                    "podIP": self.spec.pod_ip, "clientIP": client[0], "port": port}
            return 200, json.dumps(body), "application/json"
        if path == "/dial":
            return 200, json.dumps(await self.dial(q)), "application/json"
        return 404, "404 page not found\n", "text/plain; charset=utf-8"

    async def dial(self, q: dict[str, list[str]]) -> dict[str, list[str]]:
        """agnhost's /dial: make ``tries`` requests from this pod to host:port."""
        request = q.get("request", ["hostname"])[0]
        host, port = q.get("host", [""])[0], int(q.get("port", ["0"])[0] or 0)
        proto = q.get("protocol", ["http"])[0]
        tries = max(1, min(int(q.get("tries", ["1"])[0] or 1), 100))
        out: dict[str, list[str]] = {"responses": [], "errors": []}
        for _ in range(tries):
            try:
                if proto == "udp":
                    reply = await self._dial_udp(host, port, request)
                else:
                    reply = await self._dial_http(host, port, request)
                out["responses"].append(reply)
            except (OSError, TimeoutError, ValueError) as e:
                out["errors"].append(f"{type(e).__name__}: {e}")
        return out

    async def _dial_http(self, host: str, port: int, request: str) -> str:
        loop = asyncio.get_running_loop()
        with netns.entered(self.spec.netns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), 2)
            req = (f"GET /{request.lstrip('/')} HTTP/1.1\r\nHost: {host}\r\n"
                   "Connection: close\r\n\r\n")
            await loop.sock_sendall(sock, req.encode())
            data = b""
            while True:
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 2)
                if not chunk:
                    break
                data += chunk
            return data.partition(b"\r\n\r\n")[2].decode(errors="replace")
        finally:
            sock.close()

    async def _dial_udp(self, host: str, port: int, request: str) -> str:
        loop = asyncio.get_running_loop()
        with netns.entered(self.spec.netns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (host, port))
            await loop.sock_sendall(sock, request.encode())
            return (await asyncio.wait_for(loop.sock_recv(sock, 65536), 2)).decode(errors="replace")
        finally:
            sock.close()


class _Http(asyncio.Protocol):
    def __init__(self, pod: PodServer, port: int) -> None:
        self.pod, self.port = pod, port
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.task is None:
            self.task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while b"\r\n\r\n" in self.buf and self.transport and not self.transport.is_closing():
                head, _, rest = self.buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (ln.partition(":") for ln in lines[1:])}
                length = int(headers.get("content-length", "0") or 0)
                if len(rest) < length:
                    return
                self.buf = rest[length:]
                parts = lines[0].split()
                if len(parts) != 3:
                    self.transport.write(_response(400, "bad request\n", keep_alive=False))
                    self.transport.close()
                    return
                keep = parts[2] == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                peer = self.transport.get_extra_info("peername") or ("", 0)
                status, body, ctype = await self.pod.http(parts[1], peer, self.port)
                self.transport.write(_response(status, body, ctype, keep))
                if not keep:
                    self.transport.close()
                    return
        finally:
            self.task = None


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, pod: PodServer) -> None:
        self.pod = pod
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport:
            reply = self.pod.answer(data.decode(errors="replace"), addr)
            self.transport.sendto(reply.encode(), addr)


@dataclass
class NetexecHost:
    """Serves every pod described in ``directory``; ``reload`` converges to the files."""

    directory: Path
    pods: dict[str, PodServer] = field(default_factory=dict)
    # file name -> (its identity when read, what it said): a reload re-reads only the files
    # that were replaced since (the agent writes each one by rename), so a node with hundreds
    # of pods does not parse every spec on every SIGHUP and every second.
    _read: dict[str, tuple[tuple[int, int, int], PodSpec | None]] = field(default_factory=dict)

    def _wanted(self) -> dict[str, PodSpec]:
        out: dict[str, PodSpec] = {}
        seen: dict[str, tuple[tuple[int, int, int], PodSpec | None]] = {}
        try:
            entries = sorted(os.scandir(self.directory), key=lambda e: e.name)
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if not entry.name.endswith(".json"):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            ident = (st.st_ino, st.st_mtime_ns, st.st_size)
            known = self._read.get(entry.name)
            spec = known[1] if known is not None and known[0] == ident else None
            if known is None or known[0] != ident:
                try:
                    spec = PodSpec.from_json(json.loads(Path(entry.path).read_text()))
                except (OSError, ValueError, KeyError) as e:
                    log.warning("skipping %s: %s", entry.path, e)
            seen[entry.name] = (ident, spec)
            if spec is not None:
                out[spec.key] = spec
        self._read = seen
        return out

    async def reload(self) -> None:
        wanted = self._wanted()
        for key in [k for k, srv in self.pods.items() if wanted.get(k) != srv.spec]:
            await self.pods.pop(key).stop()
        for key, spec in wanted.items():
            if key not in self.pods and netns.exists(spec.netns):
                srv = PodServer(spec)
                await srv.start()
                self.pods[key] = srv

    async def run(self, stop: asyncio.Event) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        kick = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, kick.set)
        while not stop.is_set():
            kick.clear()  # before reloading: a SIGHUP during the reload triggers another one
            await self.reload()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), 1.0)
        for srv in self.pods.values():
            await srv.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m podnet.agent.netexec DIR``: serve the pods described in DIR."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m podnet.agent.netexec SPEC_DIR", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s netexec %(levelname)s %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await NetexecHost(Path(args[0])).run(stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
