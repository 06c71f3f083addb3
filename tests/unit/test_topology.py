"""The pure cluster topology: names, addresses and the ip commands for each network mode."""

from pathlib import Path

import pytest

from podnet.api.config import ClusterConfig
from podnet.cluster import configfile
from podnet.cluster.topology import (
    TopologyError,
    node_commands,
    node_fdb_commands,
    plan,
    router_commands,
    underlay_commands,
)


def test_flat_routes_each_remote_pod_range_via_its_node() -> None:
    t = plan(ClusterConfig(name="a", network="flat").with_nodes(3))
    assert t.namespaces == ["pn-a-underlay", "pn-a-node-1", "pn-a-node-2", "pn-a-node-3", "pn-a-external"]
    n1 = t.node("node-1")
    cmds = node_commands(t, n1)
    assert "addr add 172.18.0.11/16 dev eth0" in cmds
    assert "route replace 10.244.2.0/24 via 172.18.0.12 dev eth0" in cmds
    assert "route replace 10.244.3.0/24 via 172.18.0.13 dev eth0" in cmds
    assert not any("10.244.1.0/24 via" in c for c in cmds)
    assert node_fdb_commands(t, n1) == []
    assert t.router_ns is None and t.external_ip == "172.18.0.2"


def test_vxlan_follows_flannel() -> None:
    t = plan(ClusterConfig(name="a", network="vxlan").with_nodes(2))
    n1, n2 = t.nodes
    cmds = node_commands(t, n1)
    assert any(c.startswith("link add pnvx type vxlan id 1 local 172.18.0.11 dev eth0 dstport 8472")
               for c in cmds)
    assert f"link set pnvx address {n1.vtep_mac} mtu 1450" in cmds
    assert "addr add 10.244.1.0/32 dev pnvx" in cmds
    assert f"neigh replace 10.244.2.0 lladdr {n2.vtep_mac} dev pnvx nud permanent" in cmds
    assert "route replace 10.244.2.0/24 via 10.244.2.0 dev pnvx onlink" in cmds
    assert node_fdb_commands(t, n1) == [f"fdb append {n2.vtep_mac} dev pnvx dst 172.18.0.12 self permanent"]
    assert n1.vtep_mac != n2.vtep_mac and n1.vtep_mac.startswith("02:")


def test_two_l3_subnets_get_a_router() -> None:
    cfg = configfile.build("b", 3, "vxlan", "10.244.0.0/16", "10.96.0.0/12",
                           subnets=["172.18.0.0/24", "172.19.0.0/24"])
    t = plan(cfg)
    assert t.router_ns == "pn-b-router"
    assert [n.ip for n in t.nodes] == ["172.18.0.11", "172.19.0.12", "172.18.0.13"]
    assert "route add default via 172.19.0.1" in node_commands(t, t.nodes[1])
    under = underlay_commands(t)
    assert "link set pnu2 master pnbr1 up" in under and "link set pnr1 master pnbr1 up" in under
    assert "addr add 172.19.0.1/24 dev eth1" in router_commands(t)


def test_bad_shapes_are_refused_with_the_field() -> None:
    with pytest.raises(configfile.ConfigFileError, match="network: nodes on several L3 subnets need"):
        configfile.build("c", 2, "flat", "10.244.0.0/16", "10.96.0.0/12",
                         subnets=["172.18.0.0/24", "172.19.0.0/24"])
    with pytest.raises(configfile.ConfigFileError, match=r"serviceCIDR: Invalid value.*overlaps podCIDR"):
        configfile.build("c", 2, "flat", "10.0.0.0/8", "10.96.0.0/12")
    with pytest.raises(configfile.ConfigFileError, match=r'network: Unsupported value: "geneve"'):
        configfile.build("c", 2, "geneve", "10.244.0.0/16", "10.96.0.0/12")
    with pytest.raises(configfile.ConfigFileError, match=r"nodes\[0\].ip: Invalid value: '10.0.0.1'"):
        configfile.build("c", [{"name": "x", "ip": "10.0.0.1"}], "flat", "10.244.0.0/16", "10.96.0.0/12")
    with pytest.raises(TopologyError):
        plan(ClusterConfig(name="d", network="flat", subnets=("172.18.0.0/24", "172.19.0.0/24")).with_nodes(2))


def test_max_pods_per_node_defaults_to_the_bridge_limit_and_is_checked(tmp_path: Path) -> None:
    from podnet.agent.nodestatus import node_object
    from podnet.api.config import MAX_BRIDGE_PORTS

    plain = configfile.build("c", 2, "flat", "10.244.0.0/16", "10.96.0.0/12")
    assert [n.max_pods for n in plain.nodes] == [MAX_BRIDGE_PORTS] * 2 == [1023] * 2
    f = tmp_path / "c.yaml"
    f.write_text("maxPods: 50\nnodes:\n- name: a\n- name: b\n  maxPods: 3\n")
    cfg = configfile.load(str(f), {"name": "c", "nodes": 1, "network": "flat",
                                   "pod_cidr": "10.244.0.0/16", "service_cidr": "10.96.0.0/12"})
    assert [(n.name, n.max_pods) for n in cfg.nodes] == [("a", 50), ("b", 3)]
    # the node advertises it: the scheduler places no more than that many pods there
    assert node_object(cfg, cfg.nodes[1])["status"]["allocatable"]["pods"] == "3"
    f.write_text("nodes:\n- name: a\n  maxPods: 1024\n")
    with pytest.raises(configfile.ConfigFileError,
                       match=r"c.yaml: nodes\[0\].maxPods: Invalid value: 1024: .*at most 1023 ports"):
        configfile.load(str(f), {"name": "c", "nodes": 1, "network": "flat",
                                 "pod_cidr": "10.244.0.0/16", "service_cidr": "10.96.0.0/12"})
