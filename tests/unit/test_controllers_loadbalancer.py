"""LoadBalancer IP controller: pool allocation, requested IPs, release, classes, conflicts."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from controller_world import CFG, aio, cluster, service

from podnet.api.kinds import Obj
from podnet.controllers.base import ControllerOptions
from podnet.controllers.loadbalancer import LoadBalancerController, parse_pool, pool_addresses
from podnet.controllers.manager import ALL_CONTROLLERS, ControllerManager
from podnet.store.base import Store

PORTS = [{"port": 80, "targetPort": 8080}]


async def settle_lb(store: Store, pool: str = "172.18.255.200-172.18.255.202") -> int:
    cfg = dataclasses.replace(CFG, lb_pool=pool)
    mgr = ControllerManager(store, cfg, options=ControllerOptions(),
                            controllers=[LoadBalancerController])
    writes = await mgr.converge()
    assert not mgr.errors, mgr.errors
    return writes


def lb(name: str, **spec: Any) -> Obj:
    return service(name, {"app": name}, PORTS, type="LoadBalancer", **spec)


async def ingress(store: Store, name: str) -> list[dict[str, str]]:
    svc = await store.get("services", "default", name)
    return list(((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


async def ips(store: Store, name: str) -> list[str]:
    return [i["ip"] for i in await ingress(store, name)]


def test_pool_parsing() -> None:
    assert pool_addresses("10.0.0.1-10.0.0.3") == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert pool_addresses("10.0.0.0/30, 10.0.0.9/32") == ["10.0.0.1", "10.0.0.2", "10.0.0.9"]
    assert pool_addresses("10.0.0.1-10.0.0.2,10.0.0.2-10.0.0.3") == [
        "10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert [str(n) for n in parse_pool("172.18.255.200-172.18.255.250")] == [
        "172.18.255.200/29", "172.18.255.208/28", "172.18.255.224/28",
        "172.18.255.240/29", "172.18.255.248/31", "172.18.255.250/32"]
    assert len(pool_addresses(CFG.lb_pool)) == 51
    with pytest.raises(ValueError):
        parse_pool("10.0.0.5-10.0.0.1")
    with pytest.raises(ValueError):
        parse_pool("not-an-ip")


def test_registered_in_the_manager() -> None:
    assert LoadBalancerController in ALL_CONTROLLERS


@aio
async def test_assigns_lowest_free_ips_and_is_idempotent() -> None:
    reg = await cluster()
    await reg.create("services", lb("a"))
    await reg.create("services", lb("b"))
    await reg.create("services", service("plain", {"app": "x"}, PORTS))
    assert await settle_lb(reg) == 2
    assert await ingress(reg, "a") == [{"ip": "172.18.255.200", "ipMode": "VIP"}]
    assert await ips(reg, "b") == ["172.18.255.201"]
    assert await ips(reg, "plain") == []
    assert await settle_lb(reg) == 0


@aio
async def test_requested_ip_honoured_only_when_free_and_in_pool() -> None:
    reg = await cluster()
    await reg.create("services", lb("a", loadBalancerIP="172.18.255.202"))
    await settle_lb(reg)
    assert await ips(reg, "a") == ["172.18.255.202"]
    await reg.create("services", lb("b", loadBalancerIP="172.18.255.202"))  # taken
    await reg.create("services", lb("c", loadBalancerIP="10.1.2.3"))  # outside the pool
    await reg.create("services", lb("d"))
    await settle_lb(reg)
    assert await ips(reg, "b") == []
    assert await ips(reg, "c") == []
    assert await ips(reg, "d") == ["172.18.255.200"]  # the requested .202 is not handed out twice
    # a changed request moves the Service to the new IP
    a = await reg.get("services", "default", "a")
    a["spec"]["loadBalancerIP"] = "172.18.255.201"
    await reg.update("services", a)
    await settle_lb(reg)
    assert await ips(reg, "a") == ["172.18.255.201"]
    assert await ips(reg, "b") == ["172.18.255.202"]  # freed, and b asked for it


@aio
async def test_released_on_delete_and_on_type_change() -> None:
    reg = await cluster()
    for name in ("a", "b", "c"):
        await reg.create("services", lb(name))
    await settle_lb(reg)
    await reg.create("services", lb("late"))
    await settle_lb(reg)
    assert await ips(reg, "late") == []  # the pool of 3 is exhausted: pending
    await reg.delete("services", "default", "a")
    await settle_lb(reg)
    assert await ips(reg, "late") == ["172.18.255.200"]
    b = await reg.get("services", "default", "b")
    b["spec"]["type"] = "ClusterIP"
    for p in b["spec"]["ports"]:
        p.pop("nodePort", None)
    b["spec"].pop("externalTrafficPolicy", None)
    b["spec"].pop("allocateLoadBalancerNodePorts", None)
    await reg.update("services", b)
    await reg.create("services", lb("later"))
    await settle_lb(reg)
    assert await ips(reg, "b") == []
    assert await ips(reg, "later") == ["172.18.255.201"]


@aio
async def test_services_with_a_load_balancer_class_are_left_alone() -> None:
    reg = await cluster()
    await reg.create("services", lb("other", loadBalancerClass="example.com/lb"))
    await settle_lb(reg)
    assert await ips(reg, "other") == []
    svc = await reg.get("services", "default", "other")
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}}
    await reg.update_status("services", svc)
    await reg.create("services", lb("mine"))
    await settle_lb(reg)
    assert await ips(reg, "other") == ["172.18.255.200"]  # not ours: never rewritten
    assert await ips(reg, "mine") == ["172.18.255.200"]  # other implementation's IP is not ours


@aio
async def test_an_ip_shown_by_two_services_stays_with_the_older() -> None:
    reg = await cluster()
    await reg.create("services", lb("z-old"))
    await settle_lb(reg)
    await asyncio.sleep(1.05)  # creationTimestamp has second resolution
    await reg.create("services", lb("b-new"))  # newer, though its name sorts first
    new = await reg.get("services", "default", "b-new")
    new["status"] = {"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}}  # a restored dump
    await reg.update_status("services", new)
    await settle_lb(reg)
    assert await ips(reg, "z-old") == ["172.18.255.200"]
    assert await ips(reg, "b-new") == ["172.18.255.201"]


@aio
async def test_external_ips_in_the_pool_are_not_handed_out() -> None:
    reg = await cluster()
    await reg.create("services", service("ext", {"app": "x"}, PORTS,
                                         externalIPs=["172.18.255.200"]))
    await reg.create("services", lb("a"))
    await settle_lb(reg)
    assert await ips(reg, "a") == ["172.18.255.201"]


@aio
async def test_foreign_ingress_entries_are_kept() -> None:
    reg = await cluster()
    await reg.create("services", lb("a"))
    svc = await reg.get("services", "default", "a")
    svc["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}
    await reg.update_status("services", svc)
    await settle_lb(reg)
    assert await ingress(reg, "a") == [{"ip": "172.18.255.200", "ipMode": "VIP"},
                                       {"hostname": "lb.example.com"}]
