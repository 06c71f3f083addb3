"""The built-in pod server: sockets opened inside a pod's netns answer like agnhost netexec."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from podnet.agent.netexec import NetexecHost, PodSpec, remove_spec, write_spec
from podnet.kernel import netns

pytestmark = pytest.mark.root


@pytest.fixture
def pod_ns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"pn-t{secrets.token_hex(3)}-pod"
    netns.create(name)
    try:
        yield name
    finally:
        netns.delete(name)


def _in_ns(ns: str, kind: int) -> socket.socket:
    with netns.entered(ns):
        return socket.socket(socket.AF_INET, kind)


async def _http(ns: str, port: int, path: str) -> tuple[str, str, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    sock = _in_ns(ns, socket.SOCK_STREAM)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    local = sock.getsockname()
    await loop.sock_sendall(sock, f"GET {path} HTTP/1.0\r\n\r\n".encode())
    data = b""
    while chunk := await loop.sock_recv(sock, 65536):
        data += chunk
    sock.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return head.splitlines()[0], body, local


async def _udp(ns: str, port: int, msg: str) -> tuple[str, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    sock = _in_ns(ns, socket.SOCK_DGRAM)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, msg.encode())
    reply = await asyncio.wait_for(loop.sock_recv(sock, 65536), 2)
    local = sock.getsockname()
    sock.close()
    return reply.decode(), local


def test_http_and_udp_answers_from_inside_the_pod(pod_ns: str, tmp_path: Path) -> None:
    spec = PodSpec("uid-1", pod_ns, "web-0", "shop", "node-1", "10.250.0.2",
                   ((8080, "TCP"), (8081, "UDP")))
    write_spec(tmp_path, spec)

    async def run() -> None:
        host = NetexecHost(tmp_path)
        await host.reload()
        try:
            status, body, _ = await _http(pod_ns, 8080, "/hostname")
            assert status == "HTTP/1.1 200 OK" and body == "web-0"
            _, body, local = await _http(pod_ns, 8080, "/clientip")
            assert body == f"127.0.0.1:{local[1]}"
            _, body, _ = await _http(pod_ns, 8080, "/echo?msg=hello%20world")
            assert body == "hello world"
            _, body, _ = await _http(pod_ns, 8080, "/")
            info = json.loads(body)
            assert info["pod"] == "web-0" and info["namespace"] == "shop" and info["port"] == 8080
            status, _, _ = await _http(pod_ns, 8080, "/nope")
            assert "404" in status
            _, body, _ = await _http(pod_ns, 8080, "/dial?request=hostname&host=127.0.0.1&port=8080&tries=2")
            assert json.loads(body) == {"responses": ["web-0", "web-0"], "errors": []}
            _, body, _ = await _http(pod_ns, 8080, "/dial?request=echo%20hi&protocol=udp&host=127.0.0.1&port=8081")
            assert json.loads(body)["responses"] == ["hi"]
            reply, _ = await _udp(pod_ns, 8081, "hostname")
            assert reply == "web-0"
            reply, local = await _udp(pod_ns, 8081, "clientip")
            assert reply == f"127.0.0.1:{local[1]}"
            # the socket lives in the pod's namespace, not in ours
            with pytest.raises(OSError):
                s = socket.create_connection(("127.0.0.1", 8080), timeout=0.5)
                s.close()
                raise AssertionError("port 8080 answered in the test's own namespace")
            # removing the spec stops serving
            remove_spec(tmp_path, "uid-1")
            await host.reload()
            assert not host.pods
            with pytest.raises(OSError):
                await _http(pod_ns, 8080, "/hostname")
        finally:
            for srv in host.pods.values():
                await srv.stop()

    asyncio.run(run())
