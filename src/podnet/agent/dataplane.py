"""The node's data-plane controllers, fed from the agent's informers.

* the service proxy (``podnet.proxy``): Services + EndpointSlices -> nftables,
  incrementally, plus the healthCheckNodePort server on the node IP;
* the NetworkPolicy gatekeeper (``podnet.policy.gatekeeper``), which the agent also
  asks to ``admit`` each new pod before its containers serve.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from podnet.agent.node import NodeAgent

log = logging.getLogger("podnet.agent")


async def run_gatekeeper(agent: NodeAgent, stop: asyncio.Event) -> None:
    """NetworkPolicy enforcement for this node's pods."""
    from podnet.policy.gatekeeper import Gatekeeper

    agent.gatekeeper = Gatekeeper(agent.node.name, agent.node.ip, agent.config, agent.informers)
    try:
        await agent.gatekeeper.run(stop)
    except Exception:
        log.exception("network policy gatekeeper failed")


async def run_proxy(agent: NodeAgent, stop: asyncio.Event) -> None:
    """The node's service proxy, until ``stop``."""
    from podnet.proxy.healthcheck import HealthCheckServer
    from podnet.proxy.sync import Proxier

    proxier = Proxier(agent.node.name, [agent.node.ip], agent.config,
                      min_sync_period=agent.opts.proxy_min_sync)
    services, slices = agent.informers.get("services"), agent.informers.get("endpointslices")
    proxier.update(services.items(), slices.items())

    def on_service(ev: Any) -> None:
        (proxier.delete_service if ev.type == "DELETED" else proxier.set_service)(ev.object)

    def on_slice(ev: Any) -> None:
        (proxier.delete_endpoint_slice if ev.type == "DELETED" else proxier.set_endpoint_slice)(ev.object)

    services.add_handler(on_service)
    slices.add_handler(on_slice)
    health = HealthCheckServer(agent.node.ip)
    try:
        await proxier.run(stop, health)
    except Exception:
        log.exception("service proxy failed")
    finally:
        await health.close()
