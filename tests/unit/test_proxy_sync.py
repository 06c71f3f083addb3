"""The applier with a recording backend: full vs incremental, failures, checks, UDP cleanup."""

from __future__ import annotations

import asyncio

from podnet.proxy.sync import Proxier
from podnet.proxy.testing import endpoint_slice, ep, port, service, slice_port


class RecordingBackend:
    """Records scripts; can be told to fail the next apply or to lose the table."""

    def __init__(self) -> None:
        self.scripts: list[str] = []
        self.flows_deleted: list[tuple[str, int, str | None]] = []
        self.fail_next = False
        self.exists = True

    def apply(self, script: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("Error: Could not process rule: No such file or directory")
        self.scripts.append(script)
        self.exists = True

    def table_exists(self) -> bool:
        return self.exists

    def delete_udp_flows(self, ip: str, port: int, dnat_to: str | None) -> None:
        self.flows_deleted.append((ip, port, dnat_to))


def _objs(eps):
    svc = service("dns", "10.96.0.10", [port(53, "UDP")])
    sl = endpoint_slice("dns", [ep(ip) for ip in eps], [slice_port(5353, "UDP")])
    return [svc], [sl]


def _proxier(backend):
    return Proxier("node-1", ["172.18.0.11"], backend=backend, min_sync_period=0.01)


def test_first_sync_is_full_then_incremental_then_noop():
    b = RecordingBackend()
    px = _proxier(b)
    px.update(*_objs(["10.244.1.2", "10.244.1.3"]))
    assert px.sync().mode == "full"
    assert b.scripts[0].startswith("add table ip podnet-proxy\ndelete table")
    px.update(*_objs(["10.244.1.2", "10.244.1.4"]))
    r = px.sync()
    assert r.mode == "incremental" and r.services == 1
    assert "delete table" not in b.scripts[1] and "10.244.1.4 . 5353" in b.scripts[1]
    px.update(*_objs(["10.244.1.2", "10.244.1.4"]))
    assert px.sync().mode == "noop" and len(b.scripts) == 2


def test_failed_transaction_forces_a_full_sync():
    b = RecordingBackend()
    px = _proxier(b)
    px.update(*_objs(["10.244.1.2"]))
    px.sync()
    b.fail_next = True
    px.update(*_objs(["10.244.1.3"]))
    r = px.sync()
    assert r.error is not None and px.pending
    r2 = px.sync()
    assert r2.mode == "full" and r2.error is None
    assert "10.244.1.3 . 5353" in b.scripts[-1] and "10.244.1.2 . 5353" not in b.scripts[-1]


def test_check_rebuilds_a_deleted_table():
    b = RecordingBackend()
    px = _proxier(b)
    px.update(*_objs(["10.244.1.2"]))
    px.sync()
    assert px.check() is False
    b.exists = False
    assert px.check() is True
    assert b.scripts[-1].startswith("add table") and "10.244.1.2 . 5353" in b.scripts[-1]


def test_removed_udp_endpoints_lose_their_conntrack_flows():
    b = RecordingBackend()
    px = _proxier(b)
    px.update(*_objs(["10.244.1.2", "10.244.1.3"]))
    px.sync()
    px.update(*_objs(["10.244.1.3"]))
    px.sync()
    assert b.flows_deleted == [("10.96.0.10", 53, "10.244.1.2")]
    px.update([], [])
    px.sync()
    assert b.flows_deleted[-1] == ("10.96.0.10", 53, None)


def test_single_object_events_replan_only_their_service():
    b = RecordingBackend()
    px = _proxier(b)
    services, slices = _objs(["10.244.1.2"])
    other = service("web", "10.96.0.5", [port(80)])
    for s in [*services, other]:
        px.set_service(s)
    px.set_endpoint_slice(slices[0])
    px.sync()
    moved = endpoint_slice("dns", [ep("10.244.1.7")], [slice_port(5353, "UDP")])
    px.set_endpoint_slice(moved)
    r = px.sync()
    assert r.services == 1 and "10.244.1.7 . 5353" in b.scripts[-1]
    px.delete_service(other)
    px.sync()
    assert "10.96.0.5 . tcp . 80" in b.scripts[-1]
    assert px.plan.frontend("10.96.0.5", "tcp", 80) is None


def test_run_loop_batches_a_burst_into_few_syncs():
    b = RecordingBackend()
    px = Proxier("node-1", ["172.18.0.11"], backend=b, min_sync_period=0.3, check_period=60)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(px.run(stop))
        px.update(*_objs(["10.244.1.2"]))
        await asyncio.sleep(0.1)
        for i in range(3, 30):
            px.update(*_objs([f"10.244.1.{i}"]))
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.8)
        stop.set()
        await asyncio.wait_for(task, 2)

    asyncio.run(main())
    assert 2 <= len(b.scripts) <= 4  # the full sync, then the burst batched
    assert "10.244.1.29 . 5353" in b.scripts[-1]


def test_a_new_pick_chain_means_a_full_sync():
    b = RecordingBackend()
    px = _proxier(b)
    px.update(*_objs([f"10.244.1.{i}" for i in range(2, 4)]))
    px.sync()
    px.update(*_objs([f"10.244.1.{i}" for i in range(2, 42)]))  # 40 endpoints: new chain
    assert px.sync().mode == "full"
    px.update(*_objs([f"10.244.1.{i}" for i in range(2, 6)]))
    assert px.sync().mode == "incremental"  # chains only removed: still element-level
