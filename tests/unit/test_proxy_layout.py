"""The nftables layout, the renderer and the incremental assembler (no root)."""

from __future__ import annotations

import random

from podnet.proxy import render
from podnet.proxy.assemble import Assembler
from podnet.proxy.layout import build
from podnet.proxy.plan import plan
from podnet.proxy.state import changes_between
from podnet.proxy.testing import endpoint_slice, ep, port, service, slice_port

NODE_IP = "172.18.0.11"


def _state(services, slices, node="node-1"):
    return build(plan(services, slices, node, [NODE_IP]))


def _web(n=3, **spec):
    svc = service("web", "10.96.0.5", [port(80, target=8080, node_port=30080)], **spec)
    sl = endpoint_slice("web", [ep(f"10.244.1.{i + 2}") for i in range(n)], [slice_port(8080)])
    return svc, sl


def test_cluster_ip_dispatches_to_a_pick_chain_per_endpoint_count():
    svc, sl = _web(3)
    st = _state([svc], [sl])
    el = {n: s.elements for n, s in st.sets.items()}
    assert el["service-ips"] == {"10.96.0.5 . tcp . 80": "goto cluster-ip-pick-3"}
    assert el["dispatch"] == {}  # one lookup for a ClusterIP
    assert st.chains["cluster-ip-pick-3"].rules == (
        "ip saddr != 10.244.0.0/16 jump mark-for-masquerade", "goto pick-3")
    assert el["endpoints"] == {
        f"10.96.0.5 . tcp . 80 . {i}": f"10.244.1.{i + 2} . 8080" for i in range(3)
    }
    assert st.chains["pick-3"].rules == (
        "dnat to ip daddr . meta l4proto . th dport . numgen random mod 3 map @endpoints",
    )
    assert "10.244.1.2 . 10.244.1.2" in el["hairpin"]


def test_chain_count_does_not_grow_with_services():
    services, slices = [], []
    for i in range(200):
        services.append(service(f"s{i}", f"10.96.1.{i}", [port(80)]))
        slices.append(endpoint_slice(f"s{i}", [ep(f"10.244.2.{i}"), ep(f"10.244.3.{i}")],
                                     [slice_port(80)]))
    st = _state(services, slices)
    assert len(st.sets["endpoints"].elements) == 400
    few = _state(services[:2], slices[:2])
    assert st.chains.keys() == few.chains.keys()


def test_no_endpoints_rejects_in_filter_and_itp_local_without_local_drops():
    empty = service("e", "10.96.0.9", [port(80, "UDP")])
    itp = service("i", "10.96.0.8", [port(80)], internalTrafficPolicy="Local")
    sl = endpoint_slice("i", [ep("10.244.2.2", "node-2")], [slice_port(80)])
    st = _state([empty, itp], [sl])
    assert st.sets["no-endpoints"].elements == {
        "10.96.0.9 . udp . 80": "goto reject-service", "10.96.0.8 . tcp . 80": "drop"}
    assert st.sets["service-ips"].elements == {}
    assert st.chains["reject-service"].rules == (
        "meta l4proto tcp reject with tcp reset", "reject")


def test_external_local_has_its_own_endpoint_set_and_chain():
    svc, sl = _web(1, type="NodePort", externalTrafficPolicy="Local")
    sl["endpoints"].append(ep("10.244.2.2", "node-2"))
    st = _state([svc], [sl])
    key = f"{NODE_IP} . tcp . 30080"
    assert st.sets["service-ips"].elements[key] == "goto external-local"
    assert st.sets["dispatch"].elements[key] == "goto pick-2"
    assert st.sets["local-dispatch"].elements[key] == "goto pick-local-1"
    assert st.sets["local-endpoints"].elements == {f"{key} . 0": "10.244.1.2 . 8080"}
    rules = st.chains["external-local"].rules
    assert rules[0].startswith("ip saddr 10.244.0.0/16 ") and rules[-1] == "drop"


def test_cluster_policy_external_frontends_masquerade():
    svc, sl = _web(2, type="NodePort")
    st = _state([svc], [sl])
    assert st.sets["service-ips"].elements[f"{NODE_IP} . tcp . 30080"] == "goto external"
    assert st.chains["external"].rules[0] == "jump mark-for-masquerade"
    assert st.chains["cluster-ip-pick-2"].rules[0] == (
        "ip saddr != 10.244.0.0/16 jump mark-for-masquerade")


def test_source_ranges_become_firewall_elements_for_lb_ips_only():
    svc, sl = _web(1, type="LoadBalancer", loadBalancerSourceRanges=["10.1.0.0/16"],
                   lb_ips=["172.18.255.1"])
    st = _state([svc], [sl])
    assert st.sets["firewall-restricted"].elements == {"172.18.255.1 . tcp . 80": None}
    assert st.sets["firewall-allow"].elements == {"172.18.255.1 . tcp . 80 . 10.1.0.0/16": None}


def test_affinity_chains_record_and_reuse_the_index():
    svc, sl = _web(2, sessionAffinity="ClientIP",
                   sessionAffinityConfig={"clientIP": {"timeoutSeconds": 5}})
    st = _state([svc], [sl])
    assert st.sets["service-ips"].elements["10.96.0.5 . tcp . 80"] == "goto cluster-ip-affinity-5-2"
    assert st.chains["cluster-ip-affinity-5-2"].rules[-1] == "goto affinity-5-2"
    rules = st.chains["affinity-5-2"].rules
    assert rules[0].endswith("numgen inc mod 1 offset 0 @affinity goto sticky-5-0")
    assert rules[-1] == "numgen random mod 2 vmap { 0 : goto sticky-5-0, 1 : goto sticky-5-1 }"
    assert "timeout 5s" in st.chains["sticky-5-1"].rules[0]
    assert st.sets["affinity"].dynamic and not st.sets["affinity"].elements


def test_full_script_replaces_the_table_atomically():
    svc, sl = _web(2)
    text = render.full(_state([svc], [sl]))
    lines = text.splitlines()
    assert lines[:3] == ["add table ip podnet-proxy", "delete table ip podnet-proxy",
                         "table ip podnet-proxy {"]
    assert "10.96.0.5 . tcp . 80 . 1 : 10.244.1.3 . 8080" in text


def test_endpoint_change_is_element_level():
    svc, sl = _web(3)
    old = _state([svc], [sl])
    sl2 = {**sl, "endpoints": [*sl["endpoints"][:2], ep("10.244.1.9")]}
    text = render.diff(old, _state([svc], [sl2]))
    assert text.splitlines() == [
        "delete element ip podnet-proxy endpoints { 10.96.0.5 . tcp . 80 . 2 }",
        "delete element ip podnet-proxy hairpin { 10.244.1.4 . 10.244.1.4 }",
        "add element ip podnet-proxy endpoints { 10.96.0.5 . tcp . 80 . 2 : 10.244.1.9 . 8080 }",
        "add element ip podnet-proxy hairpin { 10.244.1.9 . 10.244.1.9 }",
    ]
    assert render.diff(old, old) == ""


def test_new_endpoint_count_adds_its_chain_before_elements_use_it():
    # pick chains for 1..32 endpoints always exist; 33 -> 34 needs a new chain
    svc = service("web", "10.96.0.5", [port(80)])
    eps = [ep(f"10.244.{i // 200 + 1}.{i % 200 + 2}") for i in range(34)]
    old = _state([svc], [endpoint_slice("web", eps[:33], [slice_port(80)])])
    assert "pick-1" in old.chains and "pick-local-32" in old.chains
    text = render.diff(old, _state([svc], [endpoint_slice("web", eps, [slice_port(80)])]))
    lines = text.splitlines()
    add_chain = lines.index("add chain ip podnet-proxy pick-34 { }")
    uses = next(i for i, line in enumerate(lines) if "goto pick-34" in line)
    assert add_chain < uses
    assert lines.index("add chain ip podnet-proxy cluster-ip-pick-34 { }") < uses
    gone = ["pick-33", "cluster-ip-pick-33"]
    assert sorted(lines[-4:]) == sorted([f"{verb} chain ip podnet-proxy {c}"
                                         for verb in ("flush", "delete") for c in gone])
    assert all(lines.index(f"flush chain ip podnet-proxy {c}") < len(lines) - 2 for c in gone)


def test_assembler_incremental_changes_equal_the_full_diff():
    rng = random.Random(5)

    def world(seed_eps):
        services, slices = [], []
        for i, n in enumerate(seed_eps):
            services.append(service(f"s{i}", f"10.96.2.{i}", [port(80, node_port=30000 + i)],
                                    type="NodePort"))
            slices.append(endpoint_slice(
                f"s{i}", [ep(f"10.244.{i % 3 + 1}.{j + 2}") for j in range(n)], [slice_port(80)]))
        return services, slices

    counts = [rng.randrange(0, 4) for _ in range(30)]
    asm = Assembler("10.244.0.0/16")
    prev = build(plan([], [], "node-1", [NODE_IP]))
    for _round in range(5):
        services, slices = world(counts)
        p = plan(services, slices, "node-1", [NODE_IP])
        for svc in services:
            key = f"default/{svc['metadata']['name']}"
            asm.set_service(key, [fe for fe in p.frontends if fe.service == key])
        want = build(p)
        assert asm.state() == want
        got = asm.take_changes()
        expected = changes_between(prev, want)
        assert got.added == expected.added and got.deleted == expected.deleted
        assert {c.name for c in got.chains_added} == {c.name for c in expected.chains_added}
        prev = want
        counts = [max(0, c + rng.choice((-1, 0, 1))) for c in counts]


def test_conflicting_frontend_goes_to_the_smaller_service_name():
    a = service("a", "10.96.0.5", [port(80)], externalIPs=["192.0.2.1"])
    b = service("b", "10.96.0.6", [port(80)], externalIPs=["192.0.2.1"])
    sla = endpoint_slice("a", [ep("10.244.1.2")], [slice_port(80)])
    slb = endpoint_slice("b", [ep("10.244.1.3")], [slice_port(80)])
    asm = Assembler("10.244.0.0/16")
    p = plan([a, b], [sla, slb], "node-1", [NODE_IP])
    asm.set_service("default/b", [fe for fe in p.frontends if fe.service == "default/b"]
                    + [fe for fe in plan([b], [slb], "node-1", []).frontends])
    asm.set_service("default/a", [fe for fe in p.frontends if fe.service == "default/a"])
    assert asm.state().sets["endpoints"].elements["192.0.2.1 . tcp . 80 . 0"] == "10.244.1.2 . 80"
    asm.set_service("default/a", [])
    assert asm.state().sets["endpoints"].elements["192.0.2.1 . tcp . 80 . 0"] == "10.244.1.3 . 80"


def test_hairpin_set_holds_only_this_nodes_endpoints():
    svc = service("web", "10.96.0.5", [port(80)])
    sl = endpoint_slice("web", [ep("10.244.1.2", "node-1"), ep("10.244.2.2", "node-2")],
                        [slice_port(80)])
    assert _state([svc], [sl]).sets["hairpin"].elements == {"10.244.1.2 . 10.244.1.2": None}
    assert _state([svc], [sl], node="node-2").sets["hairpin"].elements == {
        "10.244.2.2 . 10.244.2.2": None}
