"""The Registry's admission rules, in-process over a MemoryStore (no HTTP)."""

from __future__ import annotations

import asyncio
import ipaddress
import random

import pytest
from apiserver_harness import aio, configmap, deployment, namespace, pod, seeded, service

from podnet.apiserver.allocators import RangeFull, ip_in_range, pick_cluster_ip, pick_node_port
from podnet.apiserver.errors import Forbidden, Invalid
from podnet.apiserver.patch import merge_patch, three_way_patch
from podnet.apiserver.registry import Registry
from podnet.store.base import AlreadyExists, Conflict, NotFound, WatchEvent
from podnet.store.memory import MemoryStore

# -- pure allocators and patches --


def test_pick_cluster_ip_prefers_upper_band_and_skips_used() -> None:
    rng = random.Random(1)
    used = {"10.96.0.1"}
    for _ in range(200):
        ip = pick_cluster_ip("10.96.0.0/12", used, rng)
        assert ip not in used
        assert ipaddress.ip_address(ip) >= ipaddress.ip_address("10.96.1.0")  # above static band
        assert ip_in_range("10.96.0.0/12", ip)
        used.add(ip)


def test_pick_cluster_ip_small_range_fills_then_raises() -> None:
    used: set[str] = set()
    for _ in range(6):  # a /29 has 6 usable addresses
        used.add(pick_cluster_ip("10.0.0.0/29", used, random.Random()))
    assert used == {f"10.0.0.{i}" for i in range(1, 7)}
    with pytest.raises(RangeFull):
        pick_cluster_ip("10.0.0.0/29", used)


def test_pick_node_port_range_and_exhaustion() -> None:
    used: set[int] = set()
    first = pick_node_port((30000, 32767), used, random.Random(3))
    assert 30086 <= first <= 32767  # dynamic band first
    for _ in range(20):
        used.add(pick_node_port((30000, 30019), used))
    assert used == set(range(30000, 30020))
    with pytest.raises(RangeFull):
        pick_node_port((30000, 30019), used)


def test_merge_patch_rfc7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "l": [3], "n": {"x": None, "y": 1}}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "l": [3], "n": {"y": 1}}
    assert target["c"] == {"d": "e", "f": "g"}  # not modified


def test_three_way_patch_removes_only_what_was_applied() -> None:
    original = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    modified = {"metadata": {"labels": {"a": "1"}}}
    current = {"metadata": {"labels": {"a": "1", "b": "2", "ctl": "x"}}, "spec": {"ip": "1"}}
    assert three_way_patch(original, modified, current) == {"metadata": {"labels": {"b": None}}}


# -- ClusterIP allocation --


@aio
async def test_cluster_ip_reserved_requested_collision_headless() -> None:
    reg = await seeded()
    web = await reg.create("services", service("web"))
    ip = web["spec"]["clusterIP"]
    assert ip_in_range("10.96.0.0/12", ip) and web["spec"]["clusterIPs"] == [ip]
    assert ip not in ("10.96.0.1", "10.96.0.10")
    k8s = await reg.create("services", service("kubernetes"))
    assert k8s["spec"]["clusterIP"] == "10.96.0.1"
    dns = await reg.create("services", service("kube-dns", "kube-system"))
    assert dns["spec"]["clusterIP"] == "10.96.0.10"
    with pytest.raises(Invalid) as err:
        await reg.create("services", service("dns2", clusterIP="10.96.0.10"))
    assert str(err.value) == ('Service "dns2" is invalid: spec.clusterIPs[0]: Invalid value: '
                              '"10.96.0.10": provided IP is already allocated')
    assert err.value.causes[0].field == "spec.clusterIPs[0]"
    fixed = await reg.create("services", service("fixed", clusterIP="10.96.5.5"))
    assert fixed["spec"]["clusterIPs"] == ["10.96.5.5"]
    with pytest.raises(Invalid, match="provided IP is already allocated"):
        await reg.create("services", service("again", clusterIP="10.96.5.5"))
    headless = await reg.create("services", service("db", clusterIP="None"))
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["clusterIPs"] == ["None"]
    ext = await reg.create("services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext", "namespace": "default"},
        "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert not ext["spec"].get("clusterIP")
    # the freed IP can be requested again after delete
    await reg.delete("services", "default", "fixed")
    again = await reg.create("services", service("again", clusterIP="10.96.5.5"))
    assert again["spec"]["clusterIP"] == "10.96.5.5"


@aio
async def test_cluster_ip_kept_on_update_and_immutable() -> None:
    reg = await seeded()
    web = await reg.create("services", service("web"))
    ip = web["spec"]["clusterIP"]
    fresh = service("web")
    fresh["spec"]["ports"][0]["port"] = 81
    updated = await reg.update("services", fresh)  # clusterIP omitted: kept
    assert updated["spec"]["clusterIP"] == ip and updated["spec"]["ports"][0]["port"] == 81
    with pytest.raises(Invalid, match=r'spec.clusterIP: Invalid value: "10.96.7.7": field is '
                                      r"immutable"):
        await reg.update("services", service("web", clusterIP="10.96.7.7"))


@aio
async def test_allocations_survive_a_new_registry_on_the_same_store() -> None:
    store = MemoryStore()
    reg = await seeded(store)
    await reg.create("services", service("a", clusterIP="10.96.9.9", type="NodePort",
                                         ports=[{"port": 80, "nodePort": 30080}]))
    restarted = Registry(store)
    with pytest.raises(Invalid) as err:
        await restarted.create("services", service("b", clusterIP="10.96.9.9", type="NodePort",
                                                    ports=[{"port": 80, "nodePort": 30080}]))
    assert [c.field for c in err.value.causes] == ["spec.clusterIPs[0]", "spec.ports[0].nodePort"]


# -- NodePort allocation --


@aio
async def test_node_port_allocation_collision_and_release() -> None:
    reg = await seeded()
    auto = await reg.create("services", service("auto", type="NodePort"))
    np = auto["spec"]["ports"][0]["nodePort"]
    assert 30000 <= np <= 32767
    await reg.create("services", service("a", type="NodePort",
                                         ports=[{"port": 80, "nodePort": 30080}]))
    with pytest.raises(Invalid) as err:
        await reg.create("services", service("b", type="NodePort",
                                             ports=[{"port": 80, "nodePort": 30080}]))
    assert str(err.value) == ('Service "b" is invalid: spec.ports[0].nodePort: Invalid value: '
                              "30080: provided port is already allocated")
    await reg.delete("services", "default", "a")
    b = await reg.create("services", service("b", type="NodePort",
                                             ports=[{"port": 80, "nodePort": 30080}]))
    assert b["spec"]["ports"][0]["nodePort"] == 30080
    # TCP and UDP of one Service may share a node port; another Service may not take it
    both = await reg.create("services", service("dns", type="NodePort", ports=[
        {"name": "u", "port": 53, "protocol": "UDP", "nodePort": 30053},
        {"name": "t", "port": 53, "protocol": "TCP", "nodePort": 30053}]))
    assert [p["nodePort"] for p in both["spec"]["ports"]] == [30053, 30053]


@aio
async def test_load_balancer_node_ports_and_health_check_port() -> None:
    reg = await seeded()
    plain = await reg.create("services", service("lb", type="LoadBalancer"))
    assert plain["spec"]["ports"][0]["nodePort"]
    none = await reg.create("services", service("lb2", type="LoadBalancer",
                                                 allocateLoadBalancerNodePorts=False))
    assert "nodePort" not in none["spec"]["ports"][0]
    local = await reg.create("services", service("lb3", type="LoadBalancer",
                                                 externalTrafficPolicy="Local"))
    hc = local["spec"]["healthCheckNodePort"]
    assert 30000 <= hc <= 32767 and hc != local["spec"]["ports"][0]["nodePort"]


@aio
async def test_type_change_to_cluster_ip_releases_node_ports() -> None:
    reg = await seeded()
    a = await reg.create("services", service("a", type="NodePort",
                                             ports=[{"port": 80, "nodePort": 30080}]))
    a["spec"]["type"] = "ClusterIP"
    changed = await reg.update("services", a)
    assert "nodePort" not in changed["spec"]["ports"][0]
    b = await reg.create("services", service("b", type="NodePort",
                                             ports=[{"port": 80, "nodePort": 30080}]))
    assert b["spec"]["ports"][0]["nodePort"] == 30080


# -- validation, namespaces, status, no-op updates --


@aio
async def test_invalid_object_lists_every_cause() -> None:
    reg = await seeded()
    bad = service("bad", ports=[{"port": 0}, {"port": 70000, "protocol": "ICMP"}])
    with pytest.raises(Invalid) as err:
        await reg.create("services", bad)
    fields = [c.field for c in err.value.causes]
    assert "spec.ports[0].port" in fields and "spec.ports[1].port" in fields
    assert str(err.value).startswith('Service "bad" is invalid: [')
    with pytest.raises(NotFound):
        await reg.get("services", "default", "bad")


@aio
async def test_namespace_must_exist_and_not_be_terminating() -> None:
    reg = await seeded()
    with pytest.raises(NotFound, match='namespaces "nope" not found'):
        await reg.create("configmaps", configmap("x", "nope"))
    await reg.create("namespaces", namespace("team"))
    await reg.create("configmaps", configmap("x", "team"))
    ns = await reg.delete("namespaces", "", "team")
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    with pytest.raises(Forbidden, match="because it is being terminated"):
        await reg.create("configmaps", configmap("y", "team"))
    still = await reg.delete("namespaces", "", "team")  # content left: stays
    assert still["metadata"]["name"] == "team"
    await reg.get("namespaces", "", "team")
    await reg.delete("configmaps", "team", "x")
    await reg.delete("namespaces", "", "team")
    with pytest.raises(NotFound):
        await reg.get("namespaces", "", "team")
    with pytest.raises(Forbidden, match="may not be deleted"):
        await reg.delete("namespaces", "", "default")


@aio
async def test_status_subresource_and_noop_update() -> None:
    reg = await seeded()
    created = await reg.create("pods", pod("p"))
    with_status = await reg.update_status("pods", {**created, "status": {"phase": "Running"}})
    assert with_status["status"] == {"phase": "Running"}
    assert with_status["metadata"]["generation"] == created["metadata"]["generation"]
    # a main-resource update cannot change status...
    attempt = {**with_status, "status": {"phase": "Failed"}}
    attempt["metadata"] = {**with_status["metadata"], "labels": {"app": "p", "x": "1"}}
    updated = await reg.update("pods", attempt)
    assert updated["status"] == {"phase": "Running"}
    assert updated["metadata"]["labels"]["x"] == "1"
    # ...and a status update cannot change the spec
    sneaky = {**updated, "spec": {**updated["spec"], "nodeName": "node-9"},
              "status": {"phase": "Succeeded"}}
    done = await reg.update_status("pods", sneaky)
    assert "nodeName" not in done["spec"] and done["status"]["phase"] == "Succeeded"
    # an update that changes nothing writes nothing
    same = await reg.update("pods", done)
    assert same["metadata"]["resourceVersion"] == done["metadata"]["resourceVersion"]
    with pytest.raises(Conflict):
        await reg.update("pods", updated)  # stale resourceVersion


@aio
async def test_apps_selector_is_immutable() -> None:
    reg = await seeded()
    d = await reg.create("deployments", deployment("web"))
    d["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    d["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(Invalid, match=r"spec.selector: Invalid value: .*field is immutable"):
        await reg.update("deployments", d)


# -- deletion --


@aio
async def test_graceful_deletion_of_bound_pods() -> None:
    reg = await seeded()
    await reg.create("pods", pod("bound", node="node-1"))
    await reg.create("pods", pod("free"))
    events: list[WatchEvent] = []

    async def collect() -> None:
        async for ev in reg.watch("pods", "default"):
            events.append(ev)

    task = asyncio.create_task(collect())
    await asyncio.sleep(0)
    marked = await reg.delete("pods", "default", "bound")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert marked["metadata"]["deletionTimestamp"]
    assert (await reg.get("pods", "default", "bound"))["metadata"]["deletionTimestamp"]
    # a user cannot clear deletionTimestamp by updating the pod
    cleared = await reg.get("pods", "default", "bound")
    del cleared["metadata"]["deletionTimestamp"]
    cleared["metadata"]["labels"] = {"app": "bound", "v": "2"}
    assert (await reg.update("pods", cleared))["metadata"]["deletionTimestamp"]
    await reg.delete("pods", "default", "bound", grace_period_seconds=0)
    await reg.delete("pods", "default", "free")  # unbound: at once
    for _ in range(50):
        if len(events) >= 4:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "bound"), ("MODIFIED", "bound"), ("DELETED", "bound"), ("DELETED", "free")]
    with pytest.raises(NotFound):
        await reg.get("pods", "default", "bound")


# -- dry run, patch, apply --


@aio
async def test_dry_run_changes_nothing() -> None:
    reg = await seeded()
    _, rv = await reg.list("services")
    out = await reg.create("services", service("web", type="NodePort",
                                               ports=[{"port": 80, "nodePort": 30080}]),
                           dry_run=True)
    assert out["spec"]["clusterIP"] and out["spec"]["ports"][0]["nodePort"] == 30080
    assert (await reg.list("services"))[1] == rv
    with pytest.raises(AlreadyExists):
        await reg.create("namespaces", namespace("default"), dry_run=True)
    # nothing was allocated: the same port can really be taken now
    real = await reg.create("services", service("web2", type="NodePort",
                                                ports=[{"port": 80, "nodePort": 30080}]))
    rv = (await reg.list("services"))[1]
    changed = {**real, "metadata": {**real["metadata"], "labels": {"a": "b"}}}
    assert (await reg.update("services", changed, dry_run=True))["metadata"]["labels"] == {
        "a": "b"}
    await reg.delete("services", "default", "web2", dry_run=True)
    stored = await reg.get("services", "default", "web2")
    assert stored["metadata"]["resourceVersion"] == rv and "labels" not in stored["metadata"]


@aio
async def test_patch_labels_and_precondition() -> None:
    reg = await seeded()
    await reg.create("configmaps", configmap("c", labels={"a": "1", "b": "2"}))
    out = await reg.patch("configmaps", "default", "c",
                          {"metadata": {"labels": {"a": None, "c": "3"}}})
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}
    with pytest.raises(Conflict):
        await reg.patch("configmaps", "default", "c",
                        {"metadata": {"resourceVersion": "1", "labels": {"d": "4"}}})
    with pytest.raises(NotFound):
        await reg.patch("configmaps", "default", "missing", {"data": {"x": "y"}})


@aio
async def test_apply_creates_then_configures_keeping_allocations() -> None:
    reg = await seeded()
    manifest = service("web", type="NodePort")
    manifest["metadata"]["labels"] = {"tier": "front", "old": "yes"}
    first = await reg.apply(manifest)
    ip, np = first["spec"]["clusterIP"], first["spec"]["ports"][0]["nodePort"]
    await reg.patch("services", "default", "web", {"metadata": {"labels": {"ctl": "x"}}})
    manifest["metadata"]["labels"] = {"tier": "back"}
    second = await reg.apply(manifest)
    assert second["metadata"]["labels"] == {"tier": "back", "ctl": "x"}
    assert second["spec"]["clusterIP"] == ip and second["spec"]["ports"][0]["nodePort"] == np
    third = await reg.apply(manifest)
    assert third["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
    with pytest.raises(AlreadyExists):
        await reg.create("services", manifest)
