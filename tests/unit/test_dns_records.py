"""Query -> answer cases over one fixture (tests/unit/data/dns_fixture.yaml).

Each case names the rule it checks. Answers come from ``podnet.dns.answer.lookup``,
the core shared by the server and the offline resolver.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from podnet.dns.answer import lookup
from podnet.dns.records import Answer
from podnet.dns.source import load_manifests, with_endpoints
from podnet.dns.zone import Zone

FIXTURE = Path(__file__).parent / "data" / "dns_fixture.yaml"
Z = "cluster.local"
SOA_DATA_PREFIX = "ns.dns.cluster.local. hostmaster.cluster.local. "


def make_zone(domain: str = Z, ttl: int = 5, pod_mode: str = "insecure") -> Zone:
    zone = Zone(domain=domain, ttl=ttl, pod_mode=pod_mode)
    zone.load(with_endpoints(load_manifests([FIXTURE])))
    return zone


@pytest.fixture(scope="module")
def zone() -> Zone:
    return make_zone()


def q(zone: Zone, name: str, qtype: str = "A") -> Answer:
    a = lookup(zone, name, qtype)
    assert a is not None, f"{name} {qtype}: not answered by the zone"
    return a


def is_nodata(a: Answer) -> bool:
    return (a.rcode == "NOERROR" and not a.answer and len(a.authority) == 1
            and a.authority[0].type == "SOA")


def is_nxdomain(a: Answer) -> bool:
    return a.rcode == "NXDOMAIN" and not a.answer and [r.type for r in a.authority] == ["SOA"]


# (name, type, expected answer data in order-insensitive form) for positive answers
POSITIVE = [
    # ClusterIP Service: its ClusterIP, endpoints or not
    ("web.default.svc.cluster.local", "A", ["10.96.0.50"]),
    ("empty.default.svc.cluster.local", "A", ["10.96.0.51"]),
    ("kube-dns.kube-system.svc.cluster.local", "A", ["10.96.0.10"]),
    # dual-stack: A and AAAA
    ("dual.default.svc.cluster.local", "A", ["10.96.0.52"]),
    ("dual.default.svc.cluster.local", "AAAA", ["fd00:10:96::52"]),
    # headless: one A per ready endpoint, unready left out
    ("db.default.svc.cluster.local", "A", ["10.244.1.10", "10.244.2.11", "10.244.1.12"]),
    # endpoint hostnames, and the dashed IP when an endpoint has none
    ("db-0.db.default.svc.cluster.local", "A", ["10.244.1.10"]),
    ("db-1.db.default.svc.cluster.local", "A", ["10.244.2.11"]),
    ("10-244-1-12.db.default.svc.cluster.local", "A", ["10.244.1.12"]),
    # endpoint names of a ClusterIP Service's endpoints (CoreDNS answers them too)
    ("10-244-1-5.web.default.svc.cluster.local", "A", ["10.244.1.5"]),
    # publishNotReadyAddresses counts unready endpoints
    ("pub.default.svc.cluster.local", "A", ["10.244.1.20"]),
    ("pub-0.pub.default.svc.cluster.local", "A", ["10.244.1.20"]),
    # shared hostnames: every address of the hostname
    ("shared.default.svc.cluster.local", "A", ["10.244.1.30", "10.244.2.31"]),
    ("twin.shared.default.svc.cluster.local", "A", ["10.244.1.30", "10.244.2.31"]),
    # headless without ports still has A records
    ("noports.default.svc.cluster.local", "A", ["10.244.1.40"]),
    # StatefulSet pods through their endpoints' hostnames (slices derived from the pods)
    ("web-0.nginx.apps.svc.cluster.local", "A", ["10.244.1.60"]),
    ("web-1.nginx.apps.svc.cluster.local", "A", ["10.244.2.61"]),
    ("nginx.apps.svc.cluster.local", "A", ["10.244.1.60", "10.244.2.61"]),
    # SRV of named ports; ClusterIP targets the Service name
    ("_http._tcp.web.default.svc.cluster.local", "SRV", ["0 100 80 web.default.svc.cluster.local."]),
    ("_dns._udp.kube-dns.kube-system.svc.cluster.local", "SRV",
     ["0 100 53 kube-dns.kube-system.svc.cluster.local."]),
    # headless SRV: one per ready endpoint, target the endpoint's name, weight floor(100/3)
    ("_mysql._tcp.db.default.svc.cluster.local", "SRV", [
        "0 33 3306 db-0.db.default.svc.cluster.local.",
        "0 33 3306 db-1.db.default.svc.cluster.local.",
        "0 33 3306 10-244-1-12.db.default.svc.cluster.local."]),
    # duplicates dropped: two endpoints sharing a hostname give one SRV (weight over N=2)
    ("_http._tcp.shared.default.svc.cluster.local", "SRV",
     ["0 50 80 twin.shared.default.svc.cluster.local."]),
    ("_web._tcp.nginx.apps.svc.cluster.local", "SRV", [
        "0 50 80 web-0.nginx.apps.svc.cluster.local.",
        "0 50 80 web-1.nginx.apps.svc.cluster.local."]),
    # SRV at the Service name: every port
    ("web.default.svc.cluster.local", "SRV", ["0 50 80 web.default.svc.cluster.local.",
                                              "0 50 9090 web.default.svc.cluster.local."]),
    # PTR: ClusterIP, headless endpoint with hostname, with dashed IP, IPv6 ClusterIP
    ("50.0.96.10.in-addr.arpa", "PTR", ["web.default.svc.cluster.local."]),
    ("10.1.244.10.in-addr.arpa", "PTR", ["db-0.db.default.svc.cluster.local."]),
    ("12.1.244.10.in-addr.arpa", "PTR", ["10-244-1-12.db.default.svc.cluster.local."]),
    ("60.1.244.10.in-addr.arpa", "PTR", ["web-0.nginx.apps.svc.cluster.local."]),
    ("2.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa", "PTR",
     ["dual.default.svc.cluster.local."]),
    # ExternalName: CNAME
    ("ext.default.svc.cluster.local", "CNAME", ["www.example.com."]),
    ("ipext.default.svc.cluster.local", "A", ["192.0.2.7"]),
    # schema version
    ("dns-version.cluster.local", "TXT", ['"1.1.0"']),
    # pods insecure (kubeadm's Corefile)
    ("10-244-1-99.default.pod.cluster.local", "A", ["10.244.1.99"]),
    # the zone's name server and its address (the kube-dns Service)
    ("cluster.local", "NS", ["ns.dns.cluster.local."]),
    ("ns.dns.cluster.local", "A", ["10.96.0.10"]),
    # CoreDNS answers A for an SRV-shaped name
    ("_http._tcp.web.default.svc.cluster.local", "A", ["10.96.0.50"]),
]


@pytest.mark.parametrize(("name", "qtype", "want"), POSITIVE,
                         ids=[f"{n}/{t}" for n, t, _ in POSITIVE])
def test_positive(zone: Zone, name: str, qtype: str, want: list[str]) -> None:
    a = q(zone, name, qtype)
    assert a.rcode == "NOERROR"
    assert sorted(a.datas(qtype)) == sorted(want)
    assert all(r.name == name + "." for r in a.answer)
    assert not a.authority


NODATA = [
    ("web.default.svc.cluster.local", "AAAA"),  # IPv4-only Service
    ("web.default.svc.cluster.local", "TXT"),
    ("web.default.svc.cluster.local", "MX"),
    ("cluster.local", "A"),  # apex
    ("svc.cluster.local", "A"),
    ("pod.cluster.local", "A"),
    ("default.svc.cluster.local", "A"),  # a namespace with Services
    ("quiet.svc.cluster.local", "A"),  # a Namespace object without Services
    ("apps.svc.cluster.local", "SRV"),
    ("default.pod.cluster.local", "A"),
    ("dns-version.cluster.local", "A"),
    ("noports.default.svc.cluster.local", "SRV"),  # no ports: no SRV, the name exists
    ("db-0.db.default.svc.cluster.local", "AAAA"),
    ("50.0.96.10.in-addr.arpa", "A"),  # a known reverse name asked for A
    ("ipext.default.svc.cluster.local", "AAAA"),
]


@pytest.mark.parametrize(("name", "qtype"), NODATA, ids=[f"{n}/{t}" for n, t in NODATA])
def test_nodata(zone: Zone, name: str, qtype: str) -> None:
    assert is_nodata(q(zone, name, qtype))


NXDOMAIN = [
    ("missing.default.svc.cluster.local", "A"),  # no such Service
    ("web.nosuchns.svc.cluster.local", "A"),  # no such namespace
    ("nosuchns.svc.cluster.local", "A"),
    ("down.default.svc.cluster.local", "A"),  # headless, no ready endpoint
    ("db-3.db.default.svc.cluster.local", "A"),  # unready endpoint's name
    ("nobody.db.default.svc.cluster.local", "A"),
    ("_nope._tcp.web.default.svc.cluster.local", "SRV"),  # unknown port
    ("_http._udp.web.default.svc.cluster.local", "SRV"),  # wrong protocol
    ("_http._tcp.noports.default.svc.cluster.local", "SRV"),
    ("www.ext.default.svc.cluster.local", "A"),  # below an ExternalName
    ("_http._tcp.ext.default.svc.cluster.local", "SRV"),
    ("a.b.web.default.svc.cluster.local", "A"),  # too many labels
    ("foo.cluster.local", "A"),  # neither svc nor pod
    ("web.default.cluster.local", "A"),
    ("not-an-ip.default.pod.cluster.local", "A"),
    ("10-244-1-99.nosuchns.pod.cluster.local", "A"),
]


@pytest.mark.parametrize(("name", "qtype"), NXDOMAIN, ids=[f"{n}/{t}" for n, t in NXDOMAIN])
def test_nxdomain(zone: Zone, name: str, qtype: str) -> None:
    assert is_nxdomain(q(zone, name, qtype))


def test_soa_is_corednss_format(zone: Zone) -> None:
    a = q(zone, "missing.default.svc.cluster.local")
    s = a.authority[0]
    assert s.name == "cluster.local." and s.ttl == 5
    mname, rname, serial, refresh, retry, expire, minimum = s.data.split()
    assert (mname, rname) == ("ns.dns.cluster.local.", "hostmaster.cluster.local.")
    assert int(serial) == zone.serial
    assert (refresh, retry, expire, minimum) == ("7200", "1800", "86400", "5")


def test_soa_at_apex(zone: Zone) -> None:
    a = q(zone, "cluster.local", "SOA")
    assert [r.type for r in a.answer] == ["SOA"] and a.answer[0].data.startswith(SOA_DATA_PREFIX)


def test_case_insensitive_with_query_case_echoed(zone: Zone) -> None:
    a = q(zone, "WEB.Default.SVC.Cluster.Local.", "a")
    assert a.datas() == ["10.96.0.50"]
    assert a.answer[0].name == "WEB.Default.SVC.Cluster.Local."
    b = q(zone, "_HTTP._TCP.Web.DEFAULT.svc.cluster.local", "SRV")
    assert b.datas() == ["0 100 80 web.default.svc.cluster.local."]
    c = q(zone, "_MySQL._Tcp.DB.default.svc.cluster.local", "SRV")
    assert len(c.answer) == 3


def test_srv_additional_has_target_addresses(zone: Zone) -> None:
    a = q(zone, "_mysql._tcp.db.default.svc.cluster.local", "SRV")
    extra = sorted((r.name, r.type, r.data) for r in a.additional)
    assert extra == [("10-244-1-12.db.default.svc.cluster.local.", "A", "10.244.1.12"),
                     ("db-0.db.default.svc.cluster.local.", "A", "10.244.1.10"),
                     ("db-1.db.default.svc.cluster.local.", "A", "10.244.2.11")]
    b = q(zone, "_http._tcp.shared.default.svc.cluster.local", "SRV")
    assert sorted(r.data for r in b.additional) == ["10.244.1.30", "10.244.2.31"]
    c = q(zone, "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert [(r.name, r.data) for r in c.additional] == [("web.default.svc.cluster.local.",
                                                          "10.96.0.50")]


def test_srv_weight_has_a_minimum_of_one() -> None:
    zone = Zone()
    eps = [{"addresses": [f"10.244.3.{i}"]} for i in range(1, 151)]
    zone.load([
        {"kind": "Service", "metadata": {"name": "big", "namespace": "default"},
         "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}},
        {"kind": "EndpointSlice", "metadata": {"name": "big-1", "namespace": "default",
         "labels": {"kubernetes.io/service-name": "big"}}, "addressType": "IPv4",
         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}], "endpoints": eps},
    ])
    a = q(zone, "_http._tcp.big.default.svc.cluster.local", "SRV")
    assert len(a.answer) == 150 and {r.data.split()[1] for r in a.answer} == {"1"}


def test_external_name_outside_zone_is_left_for_upstream(zone: Zone) -> None:
    a = q(zone, "ext.default.svc.cluster.local", "A")
    assert [(r.type, r.data) for r in a.answer] == [("CNAME", "www.example.com.")]
    assert a.chase == ("www.example.com.", "A")


def test_external_name_inside_zone_is_chased(zone: Zone) -> None:
    a = q(zone, "alias.default.svc.cluster.local", "A")
    assert [(r.name, r.type, r.data) for r in a.answer] == [
        ("alias.default.svc.cluster.local.", "CNAME", "web.default.svc.cluster.local."),
        ("web.default.svc.cluster.local.", "A", "10.96.0.50")]
    assert a.chase is None
    b = q(zone, "alias.default.svc.cluster.local", "AAAA")  # target has no AAAA
    assert b.rcode == "NOERROR" and b.datas() == ["web.default.svc.cluster.local."]
    assert [r.type for r in b.authority] == ["SOA"]


def test_dns_version_ttl(zone: Zone) -> None:
    assert q(zone, "dns-version.cluster.local", "TXT").answer[0].ttl == 28800


def test_ns_additional_has_kube_dns_address(zone: Zone) -> None:
    a = q(zone, "cluster.local", "NS")
    assert [(r.name, r.data) for r in a.additional] == [("ns.dns.cluster.local.", "10.96.0.10")]


@pytest.mark.parametrize("qtype", ["AXFR", "IXFR"])
def test_zone_transfer_refused(zone: Zone, qtype: str) -> None:
    assert q(zone, "cluster.local", qtype).rcode == "REFUSED"


def test_outside_names_and_unknown_reverse_are_not_answered(zone: Zone) -> None:
    assert lookup(zone, "example.com", "A") is None
    assert lookup(zone, "9.9.9.9.in-addr.arpa", "PTR") is None
    assert lookup(zone, "in-addr.arpa", "SOA") is None


def test_servfail_until_synced() -> None:
    zone = Zone()
    assert q(zone, "web.default.svc.cluster.local").rcode == "SERVFAIL"
    assert lookup(zone, "example.com", "A") is None  # still forwarded
    zone.mark_synced()
    assert is_nxdomain(q(zone, "web.default.svc.cluster.local"))


def test_ttl_and_domain_are_configurable() -> None:
    zone = make_zone(domain="k8s.test", ttl=30)
    a = q(zone, "web.default.svc.k8s.test")
    assert a.datas() == ["10.96.0.50"] and a.answer[0].ttl == 30
    neg = q(zone, "missing.default.svc.k8s.test")
    assert neg.authority[0].name == "k8s.test." and neg.authority[0].data.endswith(" 30")
    assert neg.authority[0].data.startswith("ns.dns.k8s.test. hostmaster.k8s.test. ")
    assert lookup(zone, "web.default.svc.cluster.local", "A") is None
    assert q(zone, "50.0.96.10.in-addr.arpa", "PTR").datas() == ["web.default.svc.k8s.test."]


def test_pod_modes() -> None:
    verified = make_zone(pod_mode="verified")
    assert q(verified, "10-244-1-99.default.pod.cluster.local").datas() == ["10.244.1.99"]
    assert is_nxdomain(q(verified, "10-244-1-98.default.pod.cluster.local"))
    disabled = make_zone(pod_mode="disabled")
    assert is_nxdomain(q(disabled, "10-244-1-99.default.pod.cluster.local"))


def test_changes_apply_incrementally() -> None:
    zone = make_zone()
    v = zone.version
    svc = {"kind": "Service", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"clusterIP": "10.96.0.77", "ports": [{"name": "http", "port": 80}]}}
    zone.upsert("Service", svc)
    assert zone.version > v
    assert q(zone, "web.default.svc.cluster.local").datas() == ["10.96.0.77"]
    assert q(zone, "77.0.96.10.in-addr.arpa", "PTR").datas() == ["web.default.svc.cluster.local."]
    assert lookup(zone, "50.0.96.10.in-addr.arpa", "PTR") is None
    es = {"kind": "EndpointSlice", "metadata": {"name": "db-xyz12", "namespace": "default"}}
    zone.delete("EndpointSlice", es)
    assert is_nxdomain(q(zone, "db.default.svc.cluster.local"))
    zone.delete("Service", svc)
    assert is_nxdomain(q(zone, "web.default.svc.cluster.local"))
    # the namespace still exists through its other Services
    assert is_nodata(q(zone, "default.svc.cluster.local"))


def test_namespace_exists_only_while_something_is_in_it() -> None:
    zone = Zone()
    svc = {"kind": "Service", "metadata": {"name": "a", "namespace": "lonely"},
           "spec": {"clusterIP": "10.96.1.1", "ports": [{"port": 80}]}}
    zone.load([svc])
    assert is_nodata(q(zone, "lonely.svc.cluster.local"))
    zone.delete("Service", svc)
    assert is_nxdomain(q(zone, "lonely.svc.cluster.local"))


def test_answer_renders_as_dig_lines_and_json(zone: Zone) -> None:
    a = q(zone, "_http._tcp.web.default.svc.cluster.local", "SRV")
    lines = a.lines()
    assert lines[0] == ";; status: NOERROR"
    assert "_http._tcp.web.default.svc.cluster.local.\t5\tIN\tSRV\t0 100 80 " \
           "web.default.svc.cluster.local." in lines
    j = q(zone, "missing.default.svc.cluster.local").to_json()
    assert j["rcode"] == "NXDOMAIN" and j["answers"] == []
    assert j["authority"][0]["type"] == "SOA"
