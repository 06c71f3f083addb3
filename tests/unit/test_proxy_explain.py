"""``explain`` over a plan: rule, candidates, SNAT, affinity, and the drop/reject cases."""

from __future__ import annotations

from podnet.proxy.explain import explain
from podnet.proxy.plan import plan
from podnet.proxy.testing import endpoint_slice, ep, port, service, slice_port

NODE_IP = "172.18.0.11"


def _plan(**spec):
    svc = service("web", "10.96.0.5", [port(80, target=8080, node_port=30080)],
                  lb_ips=["172.18.255.1"], **spec)
    sl = endpoint_slice("web", [ep("10.244.1.2", "node-1"), ep("10.244.2.2", "node-2")],
                        [slice_port(8080)])
    empty = service("empty", "10.96.0.9", [port(80)])
    return plan([svc, empty], [sl], "node-1", [NODE_IP])


def test_cluster_ip_from_a_pod_keeps_the_source_and_lists_candidates():
    e = explain(_plan(), "10.244.1.7", "10.96.0.5", 80)
    assert e.verdict == "dnat" and e.client_class == "pod" and not e.snat
    assert e.dnat_targets == ["10.244.1.2:8080", "10.244.2.2:8080"]
    assert "cluster-ip" in e.rule and "pick-2" in e.rule
    assert explain(_plan(), NODE_IP, "10.96.0.5", 80).snat  # the node: masqueraded


def test_hairpin_is_flagged_when_the_client_is_a_candidate():
    e = explain(_plan(), "10.244.1.2", "10.96.0.5", 80)
    assert e.hairpin and not e.snat


def test_no_endpoints_rejects_and_unknown_destination_is_not_a_service():
    assert explain(_plan(), "10.244.1.7", "10.96.0.9", 80).verdict == "reject"
    assert explain(_plan(), "10.244.1.7", "10.96.0.77", 80).verdict == "not-a-service"


def test_external_traffic_policy_local_per_client_class():
    p = _plan(type="LoadBalancer", externalTrafficPolicy="Local")
    outside = explain(p, "172.18.0.200", NODE_IP, 30080)
    assert outside.dnat_targets == ["10.244.1.2:8080"] and not outside.snat
    pod = explain(p, "10.244.3.3", "172.18.255.1", 80)
    assert len(pod.dnat_targets) == 2 and not pod.snat
    node = explain(p, NODE_IP, "172.18.255.1", 80)
    assert len(node.dnat_targets) == 2 and node.snat
    other_node = plan([], [], "node-3", [NODE_IP])
    assert explain(other_node, "172.18.0.200", NODE_IP, 30080).verdict == "not-a-service"


def test_cluster_policy_snat_source_ranges_and_affinity():
    p = _plan(type="LoadBalancer", loadBalancerSourceRanges=["172.18.0.0/24"],
              sessionAffinity="ClientIP")
    allowed = explain(p, "172.18.0.200", "172.18.255.1", 80)
    assert allowed.verdict == "dnat" and allowed.snat and allowed.affinity_timeout == 10800
    assert allowed.to_dict()["affinity"] == {"type": "ClientIP", "timeoutSeconds": 10800}
    denied = explain(p, "172.19.0.5", "172.18.255.1", 80)
    assert denied.verdict == "drop" and "loadBalancerSourceRanges" in denied.reason
