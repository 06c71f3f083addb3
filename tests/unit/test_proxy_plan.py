"""The pure proxy planner: one test per behaviour of issue 5 (no root)."""

from __future__ import annotations

from podnet.proxy.model import FrontendKind, Masquerade
from podnet.proxy.plan import plan
from podnet.proxy.testing import endpoint_slice, ep, port, service, slice_port

NODE_IP = "172.18.0.11"


def _plan(services, slices, node="node-1", **kw):
    return plan(services, slices, node, [NODE_IP], **kw)


def _targets(endpoints):
    return [e.target for e in endpoints]


def test_cluster_ip_tcp_and_udp_ports_each_get_their_endpoints():
    svc = service("dns", "10.96.0.10", [port(53, "UDP", "dns"), port(53, "TCP", "dns-tcp")])
    sl = endpoint_slice("dns", [ep("10.244.1.2"), ep("10.244.2.2", "node-2")],
                        [slice_port(5353, "UDP", "dns"), slice_port(5354, "TCP", "dns-tcp")])
    p = _plan([svc], [sl])
    udp, tcp = p.frontend("10.96.0.10", "udp", 53), p.frontend("10.96.0.10", "tcp", 53)
    assert udp is not None and tcp is not None
    assert _targets(udp.endpoints) == ["10.244.1.2:5353", "10.244.2.2:5353"]
    assert _targets(tcp.endpoints) == ["10.244.1.2:5354", "10.244.2.2:5354"]
    assert udp.kind is FrontendKind.CLUSTER_IP and udp.masquerade is Masquerade.NON_POD


def test_named_target_port_resolved_per_pod_through_slices():
    svc = service("web", "10.96.0.5", [port(80, name="http", target="http")])
    slices = [
        endpoint_slice("web", [ep("10.244.1.2")], [slice_port(8080, name="http")], name="a"),
        endpoint_slice("web", [ep("10.244.1.3")], [slice_port(9090, name="http")], name="b"),
    ]
    fe = _plan([svc], slices).frontend("10.96.0.5", "tcp", 80)
    assert fe is not None
    assert _targets(fe.endpoints) == ["10.244.1.2:8080", "10.244.1.3:9090"]


def test_unready_endpoints_are_not_used_and_none_left_rejects():
    svc = service("web", "10.96.0.5", [port(80)])
    sl = endpoint_slice("web", [ep("10.244.1.2", ready=False)], [slice_port(80)])
    fe = _plan([svc], [sl]).frontend("10.96.0.5", "tcp", 80)
    assert fe is not None and fe.endpoints == () and fe.when_empty == "reject"
    fe2 = _plan([svc], []).frontend("10.96.0.5", "tcp", 80)
    assert fe2 is not None and fe2.when_empty == "reject"


def test_terminating_endpoints_only_when_no_ready_ones():
    svc = service("web", "10.96.0.5", [port(80)])
    term = ep("10.244.1.9", ready=False, serving=True, terminating=True)
    gone = ep("10.244.1.8", ready=False, serving=False, terminating=True)
    both = endpoint_slice("web", [ep("10.244.1.2"), term, gone], [slice_port(80)])
    fe = _plan([svc], [both]).frontend("10.96.0.5", "tcp", 80)
    assert fe is not None and _targets(fe.endpoints) == ["10.244.1.2:80"]
    only_term = endpoint_slice("web", [term, gone], [slice_port(80)])
    fe = _plan([svc], [only_term]).frontend("10.96.0.5", "tcp", 80)
    assert fe is not None and _targets(fe.endpoints) == ["10.244.1.9:80"]
    assert fe.when_empty is None


def test_proxy_name_and_headless_labels_disable_proxying():
    other = service("a", "10.96.0.5", [port(80)],
                    labels={"service.kubernetes.io/service-proxy-name": "cilium"})
    headless_label = service("b", "10.96.0.6", [port(80)],
                             labels={"service.kubernetes.io/headless": ""})
    p = _plan([other, headless_label], [])
    assert p.frontends == ()
    assert "service-proxy-name" in p.skipped["default/a"]
    assert "headless" in p.skipped["default/b"]
    mine = _plan([other], [], proxy_name="cilium")
    assert mine.frontend("10.96.0.5", "tcp", 80) is not None


def test_headless_and_external_name_get_no_rules():
    headless = service("h", "None", [port(80)])
    ext = service("e", "", [port(80)], type="ExternalName", externalName="example.com")
    sl = endpoint_slice("h", [ep("10.244.1.2")], [slice_port(80)])
    p = _plan([headless, ext], [sl])
    assert p.frontends == ()
    assert set(p.skipped) == {"default/h", "default/e"}


def test_node_port_on_node_addresses_with_cluster_policy_masquerades():
    svc = service("web", "10.96.0.5", [port(80, node_port=30080)], type="NodePort")
    sl = endpoint_slice("web", [ep("10.244.2.2", "node-2")], [slice_port(80)])
    p = plan([svc], [sl], "node-1", [NODE_IP, "172.18.0.99"])
    for ip in (NODE_IP, "172.18.0.99"):
        fe = p.frontend(ip, "tcp", 30080)
        assert fe is not None and fe.kind is FrontendKind.NODE_PORT
        assert fe.masquerade is Masquerade.ALWAYS and fe.local_endpoints is None
        assert _targets(fe.endpoints) == ["10.244.2.2:80"]
    cluster_only = service("web", "10.96.0.5", [port(80, node_port=30080)])
    assert _plan([cluster_only], [sl]).frontend(NODE_IP, "tcp", 30080) is None


def test_external_traffic_policy_local_uses_local_endpoints_for_outside_clients():
    svc = service("web", "10.96.0.5", [port(80, node_port=30080)], type="LoadBalancer",
                  externalTrafficPolicy="Local", healthCheckNodePort=31000,
                  lb_ips=["172.18.255.1"])
    sl = endpoint_slice("web", [ep("10.244.1.2", "node-1"), ep("10.244.2.2", "node-2")],
                        [slice_port(80)])
    p = _plan([svc], [sl])
    for ip, prt in ((NODE_IP, 30080), ("172.18.255.1", 80)):
        fe = p.frontend(ip, "tcp", prt)
        assert fe is not None and fe.masquerade is Masquerade.LOCAL_SOURCE
        assert _targets(fe.local_endpoints or ()) == ["10.244.1.2:80"]
        assert len(fe.endpoints) == 2  # pods and the node itself still use every endpoint
    cip = p.frontend("10.96.0.5", "tcp", 80)
    assert cip is not None and len(cip.endpoints) == 2  # eTP does not affect the ClusterIP
    assert [(h.port, h.local_endpoints) for h in p.health_checks] == [(31000, 1)]
    elsewhere = _plan([svc], [sl], node="node-3")
    fe = elsewhere.frontend(NODE_IP, "tcp", 30080)
    assert fe is not None and fe.local_endpoints == () and fe.when_empty is None
    assert [h.local_endpoints for h in elsewhere.health_checks] == [0]


def test_internal_traffic_policy_local():
    svc = service("web", "10.96.0.5", [port(80)], internalTrafficPolicy="Local")
    sl = endpoint_slice("web", [ep("10.244.1.2", "node-1"), ep("10.244.2.2", "node-2")],
                        [slice_port(80)])
    fe = _plan([svc], [sl]).frontend("10.96.0.5", "tcp", 80)
    assert fe is not None and fe.internal_local and _targets(fe.endpoints) == ["10.244.1.2:80"]
    fe3 = _plan([svc], [sl], node="node-3").frontend("10.96.0.5", "tcp", 80)
    assert fe3 is not None and fe3.when_empty == "drop"  # has endpoints, none here


def test_external_ips_and_load_balancer_ips_like_cluster_ips_with_source_ranges():
    svc = service("lb", "10.96.0.7", [port(443, target=8443)], type="LoadBalancer",
                  externalIPs=["192.0.2.10"], loadBalancerSourceRanges=["10.1.0.0/16"],
                  lb_ips=["172.18.255.2"])
    svc["status"]["loadBalancer"]["ingress"].append({"ip": "172.18.255.3", "ipMode": "Proxy"})
    sl = endpoint_slice("lb", [ep("10.244.1.5")], [slice_port(8443)])
    p = _plan([svc], [sl])
    ext = p.frontend("192.0.2.10", "tcp", 443)
    lb = p.frontend("172.18.255.2", "tcp", 443)
    assert ext is not None and ext.kind is FrontendKind.EXTERNAL_IP
    assert lb is not None and lb.kind is FrontendKind.LOAD_BALANCER
    assert lb.source_ranges == ("10.1.0.0/16",)
    assert _targets(lb.endpoints) == _targets(ext.endpoints) == ["10.244.1.5:8443"]
    assert p.frontend("172.18.255.3", "tcp", 443) is None  # ipMode Proxy: the LB proxies


def test_session_affinity_client_ip_with_timeout():
    svc = service("s", "10.96.0.8", [port(80)], sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 7}})
    default = service("d", "10.96.0.9", [port(80)], sessionAffinity="ClientIP")
    p = _plan([svc, default], [])
    fe, fd = p.frontend("10.96.0.8", "tcp", 80), p.frontend("10.96.0.9", "tcp", 80)
    assert fe is not None and fe.affinity_timeout == 7
    assert fd is not None and fd.affinity_timeout == 10800


def test_endpoints_deduplicated_across_slices_best_condition_wins():
    svc = service("web", "10.96.0.5", [port(80)])
    a = endpoint_slice("web", [ep("10.244.1.2", ready=False)], [slice_port(80)], name="a")
    b = endpoint_slice("web", [ep("10.244.1.2")], [slice_port(80)], name="b")
    fe = _plan([svc], [a, b]).frontend("10.96.0.5", "tcp", 80)
    assert fe is not None and _targets(fe.endpoints) == ["10.244.1.2:80"]


def test_sctp_and_slices_of_other_namespaces_or_families():
    svc = service("s", "10.96.0.5", [port(9999, "SCTP")])
    mine = endpoint_slice("s", [ep("10.244.1.2")], [slice_port(9999, "SCTP")])
    other_ns = endpoint_slice("s", [ep("10.244.1.3")], [slice_port(9999, "SCTP")],
                              namespace="other")
    v6 = endpoint_slice("s", [ep("fd00::1")], [slice_port(9999, "SCTP")], name="v6")
    v6["addressType"] = "IPv6"
    fe = _plan([svc], [mine, other_ns, v6]).frontend("10.96.0.5", "sctp", 9999)
    assert fe is not None and _targets(fe.endpoints) == ["10.244.1.2:9999"]
