"""Resolution as a pod does it: search path, ndots:5, query counts, autopath."""

from __future__ import annotations

import asyncio

import pytest
from test_dns_records import make_zone
from test_dns_server import LO, fake_upstream, run, serving

from podnet.dns.records import Answer, Record
from podnet.dns.resolve import (
    autopath_names,
    candidates,
    resolve,
    search_path,
    server_asker,
    zone_asker,
)
from podnet.dns.zone import Zone


@pytest.fixture(scope="module")
def zone() -> Zone:
    return make_zone()


def fake_internet(name: str, qtype: str) -> Answer:
    """An upstream that knows only example.com and www.example.com."""
    if name.rstrip(".") in ("example.com", "www.example.com") and qtype == "A":
        return Answer(answer=[Record("example.com.", "A", 60, "93.184.215.14")])
    return Answer("NXDOMAIN")


def test_search_path_and_ndots_order() -> None:
    search = search_path("default")
    assert search == ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert candidates("web", search) == [
        "web.default.svc.cluster.local.", "web.svc.cluster.local.", "web.cluster.local.", "web."]
    assert candidates("a.b.c.d.e.f", search)[0] == "a.b.c.d.e.f."  # 5 dots >= ndots: as-is first
    assert candidates("a.b.c.d.e", search)[-1] == "a.b.c.d.e."  # 4 dots: as-is last
    assert candidates("web.default.svc.cluster.local.", search) == [
        "web.default.svc.cluster.local."]


def test_short_names_resolve_in_the_pods_namespace(zone: Zone) -> None:
    ask = zone_asker(zone)
    r = resolve(ask, "web", namespace="default")
    assert r.answer.datas() == ["10.96.0.50"] and r.queries == 1
    r = resolve(ask, "web.default", namespace="apps")
    assert r.answer.datas() == ["10.96.0.50"]
    assert [n for n, _ in r.tried] == ["web.default.apps.svc.cluster.local.",
                                       "web.default.svc.cluster.local."]
    r = resolve(ask, "db-0.db", namespace="default")
    assert r.answer.datas() == ["10.244.1.10"] and r.queries == 1
    r = resolve(ask, "web-0.nginx", namespace="apps")
    assert r.answer.datas() == ["10.244.1.60"]


def test_a_name_missing_everywhere_tries_the_whole_path(zone: Zone) -> None:
    r = resolve(zone_asker(zone), "web", namespace="apps")
    assert [rc for _, rc in r.tried] == ["NXDOMAIN"] * 4
    assert r.answer.rcode == "NXDOMAIN" and "outside cluster.local" in r.answer.comment


def test_nodata_wins_over_a_later_nxdomain(zone: Zone) -> None:
    r = resolve(zone_asker(zone), "default", namespace="apps")
    assert [rc for _, rc in r.tried] == ["NXDOMAIN", "NODATA", "NXDOMAIN", "NXDOMAIN"]
    assert r.answer.rcode == "NOERROR" and not r.answer.answer


def test_external_name_costs_four_queries_per_type_through_ndots5(zone: Zone) -> None:
    r = resolve(zone_asker(zone, fake_internet), "example.com", namespace="default")
    assert r.answer.datas() == ["93.184.215.14"]
    assert r.queries == 4  # three search-path NXDOMAINs, then the name itself
    assert resolve(zone_asker(zone, fake_internet), "example.com.").queries == 1
    ext = resolve(zone_asker(zone, fake_internet), "ext", namespace="default")
    assert ext.answer.datas() == ["www.example.com.", "93.184.215.14"] and ext.queries == 1


def test_resolution_json(zone: Zone) -> None:
    j = resolve(zone_asker(zone), "web.default", namespace="apps").to_json()
    assert j["rcode"] == "NOERROR"
    assert j["answers"] == [{"name": "web.default.svc.cluster.local.", "type": "A", "ttl": 5,
                             "data": "10.96.0.50"}]
    assert [t["rcode"] for t in j["tried"]] == ["NXDOMAIN", "NOERROR"]


def test_autopath_names() -> None:
    assert autopath_names("google.com.default.svc.cluster.local.", "default",
                          "cluster.local") == [
        "google.com.svc.cluster.local.", "google.com.cluster.local.", "google.com."]
    assert autopath_names("web.apps.svc.cluster.local", "default", "cluster.local") is None
    assert autopath_names("default.svc.cluster.local", "default", "cluster.local") is None


def test_live_resolution_with_and_without_autopath() -> None:
    """One external lookup from a pod: 4 queries per type without autopath, 1 with."""

    async def body() -> None:
        zone = make_zone()
        zone.upsert("Pod", {"metadata": {"name": "me", "namespace": "default"},
                            "status": {"podIP": LO}})
        async with fake_upstream() as (_up, up_port):
            for autopath, want in ((False, 4), (True, 1)):
                async with serving(zone, upstreams=[(LO, up_port)], timeout=1.0,
                                   autopath=autopath) as srv:
                    ask = server_asker(LO, srv.port)
                    r = await asyncio.to_thread(resolve, ask, "example.com", "A", "default")
                    assert r.queries == want
                    assert r.answer.datas("A") == ["203.0.113.9"]
                    short = await asyncio.to_thread(resolve, ask, "web", "A", "default")
                    assert short.queries == 1 and short.answer.datas() == ["10.96.0.50"]

    run(body)
