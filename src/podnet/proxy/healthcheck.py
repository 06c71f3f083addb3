"""healthCheckNodePort servers: tell an external load balancer whether this node has endpoints.

For a LoadBalancer Service with externalTrafficPolicy Local, the cloud load
balancer probes ``http://<node>:<healthCheckNodePort>/`` and sends traffic
only to nodes that answer 200. Like kube-proxy, every path answers: 200 with
``localEndpoints`` > 0, 503 otherwise, and a JSON body::

    {"service": {"namespace": "default", "name": "web"}, "localEndpoints": 2,
     "serviceProxyHealthy": true}

One :class:`HealthCheckServer` holds a listener per port and follows the
proxy's :class:`~podnet.proxy.model.HealthCheck` list with :meth:`sync`.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from podnet.proxy.model import HealthCheck


class HealthCheckServer:
    """Listeners on ``host`` for each healthCheckNodePort (host "" = all addresses)."""

    def __init__(self, host: str = "") -> None:
        self.host = host or None
        self._checks: dict[int, HealthCheck] = {}
        self._sites: dict[int, web.TCPSite] = {}
        self._runner: web.AppRunner | None = None

    @property
    def ports(self) -> list[int]:
        return sorted(self._sites)

    async def _handle(self, request: web.Request) -> web.Response:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        check = self._checks.get(int(sock[1])) if sock else None
        if check is None:
            return web.json_response({"error": "no such service"}, status=404)
        namespace, _, name = check.service.partition("/")
        body = {
            "service": {"namespace": namespace, "name": name},
            "localEndpoints": check.local_endpoints,
            "serviceProxyHealthy": True,
        }
        return web.json_response(body, status=200 if check.local_endpoints > 0 else 503)

    async def _ensure_runner(self) -> web.AppRunner:
        if self._runner is None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
        return self._runner

    async def sync(self, checks: Iterable[HealthCheck]) -> None:
        """Serve exactly ``checks``: open new ports, close removed ones, update counts."""
        wanted = {c.port: c for c in checks}
        self._checks = wanted
        for port in [p for p in self._sites if p not in wanted]:
            await self._sites.pop(port).stop()
        runner = await self._ensure_runner()
        for port in wanted:
            if port not in self._sites:
                site = web.TCPSite(runner, self.host, port, reuse_address=True)
                await site.start()
                self._sites[port] = site

    async def close(self) -> None:
        self._sites.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
