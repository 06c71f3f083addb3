"""healthCheckNodePort server on loopback: 200 with local endpoints, 503 without."""

from __future__ import annotations

import asyncio
import socket

import aiohttp

from podnet.proxy.healthcheck import HealthCheckServer
from podnet.proxy.model import HealthCheck


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_health_check_answers_by_local_endpoint_count():
    p1, p2 = _free_port(), _free_port()

    async def main() -> None:
        server = HealthCheckServer("127.0.0.1")
        try:
            await server.sync([HealthCheck(p1, "default/web", 2), HealthCheck(p2, "ns/db", 0)])
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{p1}/healthz") as r:
                    assert r.status == 200
                    body = await r.json()
                    assert body["localEndpoints"] == 2
                    assert body["service"] == {"namespace": "default", "name": "web"}
                async with http.get(f"http://127.0.0.1:{p2}/") as r:
                    assert r.status == 503 and (await r.json())["localEndpoints"] == 0
                await server.sync([HealthCheck(p2, "ns/db", 1)])
                assert server.ports == [p2]
                async with http.get(f"http://127.0.0.1:{p2}/") as r:
                    assert r.status == 200
            async with aiohttp.ClientSession() as fresh:  # no kept-alive connection
                try:
                    async with fresh.get(f"http://127.0.0.1:{p1}/") as r:
                        raise AssertionError(f"port {p1} still served: {r.status}")
                except aiohttp.ClientConnectionError:
                    pass
        finally:
            await server.close()

    asyncio.run(main())
