"""The controller manager: every controller in one asyncio loop over shared informers.

``ControllerManager(store, config).run()`` starts one informer per watched
resource and one loop per controller, like kube-controller-manager plus the
scheduler. ``converge()`` is the offline form: it relists and runs every
controller's reconcile pass in turn, round after round, until a round writes
nothing (or ``max_rounds`` is reached); optional ``extra_steps`` (the offline
kubelet) run at the end of each round and count as writes too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from podnet.aio import cancel_all
from podnet.api.config import ClusterConfig
from podnet.controllers.base import Controller, ControllerOptions
from podnet.controllers.daemonset import DaemonSetController
from podnet.controllers.defaults import DefaultsController
from podnet.controllers.deployment import DeploymentController
from podnet.controllers.endpointslice import EndpointSliceController
from podnet.controllers.informer import InformerSet
from podnet.controllers.loadbalancer import LoadBalancerController
from podnet.controllers.namespace import NamespaceController
from podnet.controllers.node_lifecycle import NodeLifecycleController
from podnet.controllers.pod_gc import PodGCController
from podnet.controllers.replicaset import ReplicaSetController
from podnet.controllers.scheduler import Scheduler
from podnet.controllers.service_repair import ServiceRepairController
from podnet.controllers.statefulset import StatefulSetController
from podnet.store.base import Store

log = logging.getLogger(__name__)

# Order matters only for how fast converge() settles: producers before consumers.
ALL_CONTROLLERS: tuple[type[Controller], ...] = (
    DefaultsController,
    NamespaceController,
    ServiceRepairController,
    NodeLifecycleController,
    DeploymentController,
    ReplicaSetController,
    StatefulSetController,
    DaemonSetController,
    Scheduler,
    PodGCController,
    EndpointSliceController,
    LoadBalancerController,
)

# What the offline pipeline runs: no clocks (heartbeats of a dump are old) and
# no garbage collection of pods or dependents whose owner is not in the inputs.
OFFLINE_CONTROLLERS: tuple[type[Controller], ...] = tuple(
    c for c in ALL_CONTROLLERS if c not in (NodeLifecycleController, PodGCController))

Step = Callable[[], Awaitable[int]]


class ControllerManager:
    def __init__(
        self,
        store: Store,
        config: ClusterConfig | None = None,
        *,
        options: ControllerOptions | None = None,
        controllers: Sequence[type[Controller]] = ALL_CONTROLLERS,
    ) -> None:
        self.store = store
        self.config = config or ClusterConfig()
        self.options = options or ControllerOptions()
        self.informers = InformerSet(store)
        self.controllers = [
            cls(store, self.config, informers=self.informers, options=self.options)
            for cls in controllers
        ]
        self._tasks: list[asyncio.Task[Any]] = []

    def get(self, cls: type[Controller]) -> Controller:
        return next(c for c in self.controllers if isinstance(c, cls))

    @property
    def errors(self) -> list[str]:
        return [e for c in self.controllers for e in c.errors]

    async def start(self) -> None:
        """Start the informers and every controller loop in the background."""
        self.informers.start()
        for c in self.controllers:
            self._tasks.append(asyncio.create_task(c.run(), name=f"controller-{c.name}"))

    async def run(self) -> None:
        """Run until cancelled."""
        await self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_all(tasks)
        await self.informers.stop()

    async def converge(self, max_rounds: int = 50, extra_steps: Sequence[Step] = ()) -> int:
        """Reconcile every controller until a whole round writes nothing; total writes.

        Only writes made through the controllers (and steps that write through
        ``self.informers``) may happen meanwhile: the caches are relisted only in the
        first round and after a round that hit a conflict or an error."""
        total = 0
        idle = 0  # rounds in a row that wrote nothing but hit conflicts or errors
        retry = True
        for _ in range(max_rounds):
            if retry:  # otherwise the caches are exact: every write went through them
                await self.informers.relist()
            writes = 0
            retry = False
            for c in self.controllers:
                writes += await c.run_pass()
                retry |= c.retry
            for step in extra_steps:
                writes += await step()
            total += writes
            if writes == 0:
                if not retry or idle >= 2:
                    return total
                idle += 1
            else:
                idle = 0
        log.warning("controllers did not converge in %d rounds", max_rounds)
        return total


async def converge(
    store: Store,
    config: ClusterConfig | None = None,
    max_rounds: int = 50,
    *,
    options: ControllerOptions | None = None,
    controllers: Sequence[type[Controller]] = ALL_CONTROLLERS,
    extra_steps: Sequence[Step] = (),
) -> int:
    """Run every controller's reconcile until no writes happen; returns the writes made."""
    mgr = ControllerManager(store, config, options=options, controllers=controllers)
    return await mgr.converge(max_rounds, extra_steps)
