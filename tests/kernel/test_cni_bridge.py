"""podnet-bridge + podnet-host-local, driven like a runtime: verbs, error codes, effects."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
from pathlib import Path

import pytest

from conftest import CniNode
from podnet.cni.bridge_config import host_veth_name

pytestmark = pytest.mark.root


def ports(node: CniNode) -> list[str]:
    return sorted(link["ifname"] for link in node.links() if link.get("master") == node.bridge)


def nft_tables(node: CniNode) -> str:
    return node.sh("nft", "list", "tables")


def test_effects_hairpin_gateway_masq_promisc_mtu(cni_node: CniNode) -> None:
    conf = cni_node.config(isDefaultGateway=True, ipMasq=True, hairpinMode=True,
                           promiscMode=True, mtu=1400)
    pod = cni_node.pod()
    rc, res = cni_node.run("ADD", conf, "c1", pod)
    assert rc == 0, res
    assert res is not None
    veth = host_veth_name("c1", "eth0")
    links = {link["ifname"]: link for link in cni_node.links()}
    assert links[veth]["linkinfo"]["info_slave_data"]["hairpin"] is True
    assert links[veth]["mtu"] == 1400
    assert "PROMISC" in links[cni_node.bridge]["flags"]
    assert cni_node.prefix(1) + "/24" in cni_node.sh("ip", "addr", "show", cni_node.bridge)
    assert cni_node.sh("cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"
    pod_eth0 = next(link for link in cni_node.links(pod) if link["ifname"] == "eth0")
    assert pod_eth0["mtu"] == 1400
    assert f"default via {cni_node.prefix(1)}" in cni_node.sh("ip", "route", ns=pod)
    assert {"dst": "0.0.0.0/0", "gw": cni_node.prefix(1)} in res["routes"]
    ruleset = cni_node.sh("nft", "list", "table", "inet", "podnet-cni-nat")
    pod_ip = res["ips"][0]["address"].split("/")[0]
    assert pod_ip in ruleset and f"ip daddr != {cni_node.subnet}" in ruleset
    assert "masquerade" in ruleset
    assert cni_node.run("CHECK", dict(conf, prevResult=res), "c1", pod) == (0, None)
    # CHECK notices a missing masquerade rule
    cni_node.sh("nft", "delete", "element", "inet", "podnet-cni-nat", "masq4", f"{{ {pod_ip} }}")
    rc, out = cni_node.run("CHECK", dict(conf, prevResult=res), "c1", pod)
    assert rc == 1 and out is not None and out["code"] == 102 and "masquerade" in out["details"]
    assert cni_node.run("DEL", conf, "c1", pod) == (0, None)
    assert "podnet-cni-nat" not in nft_tables(cni_node)  # last user gone: table gone


def test_del_is_idempotent_in_every_form(cni_node: CniNode) -> None:
    conf = cni_node.config(ipMasq=True)
    pods = [cni_node.pod() for _ in range(3)]
    for i, pod in enumerate(pods):
        assert cni_node.run("ADD", conf, f"c{i}", pod)[0] == 0
    # 1. interface already gone
    cni_node.sh("ip", "link", "del", "eth0", ns=pods[0])
    assert cni_node.run("DEL", conf, "c0", pods[0]) == (0, None)
    # 2. lease already gone (and DEL twice)
    for lease in cni_node.leases():
        path = Path(cni_node.data_dir, conf["name"], lease)
        if path.read_bytes().startswith(b"c1"):
            path.unlink()
    assert cni_node.run("DEL", conf, "c1", pods[1]) == (0, None)
    assert cni_node.run("DEL", conf, "c1", pods[1]) == (0, None)
    # 3. netns gone, then CNI_NETNS empty
    subprocess.run(["ip", "netns", "del", os.path.basename(pods[2])], check=True)
    assert cni_node.run("DEL", conf, "c2", pods[2]) == (0, None)
    assert cni_node.run("DEL", conf, "c2", "") == (0, None)
    assert cni_node.leases() == [] and ports(cni_node) == []
    assert "podnet-cni-nat" not in nft_tables(cni_node)


def test_check_fails_after_address_removed(cni_node: CniNode) -> None:
    conf = cni_node.config("1.0.0")
    pod = cni_node.pod()
    rc, res = cni_node.run("ADD", conf, "c1", pod)
    assert rc == 0 and res is not None
    assert cni_node.run("CHECK", dict(conf, prevResult=res), "c1", pod) == (0, None)
    cni_node.sh("ip", "addr", "del", res["ips"][0]["address"], "dev", "eth0", ns=pod)
    rc, out = cni_node.run("CHECK", dict(conf, prevResult=res), "c1", pod)
    assert rc == 1 and out is not None and out["code"] == 102
    assert res["ips"][0]["address"] in out["details"]
    rc, out = cni_node.run("CHECK", conf, "c1", pod)  # no prevResult
    assert rc == 1 and out is not None and out["code"] == 7


def test_add_with_existing_ifname_fails_cleanly(cni_node: CniNode) -> None:
    conf = cni_node.config()
    pod = cni_node.pod()
    assert cni_node.run("ADD", conf, "c1", pod)[0] == 0
    rc, out = cni_node.run("ADD", conf, "c2", pod)
    assert rc == 1 and out is not None and out["code"] == 101
    assert len(cni_node.leases()) == 1 and len(ports(cni_node)) == 1


@pytest.mark.parametrize(("ipam", "code"), [
    ({"type": "no-such-ipam"}, 7),
    ({"ranges": [[{"subnet": "10.250.255.0/31"}]]}, 7),
])
def test_failed_add_leaves_nothing(cni_node: CniNode, ipam: dict[str, object], code: int) -> None:
    conf = cni_node.config(ipam=ipam, ipMasq=True)
    pod = cni_node.pod()
    rc, out = cni_node.run("ADD", conf, "c1", pod)
    assert rc == 1 and out is not None and out["code"] == code
    assert ports(cni_node) == [] and cni_node.leases() == []
    assert "eth0" not in cni_node.sh("ip", "link", ns=pod)
    assert "podnet-cni-nat" not in nft_tables(cni_node)


def test_exhaustion_is_clean_and_status_reports_it(cni_node: CniNode) -> None:
    conf = cni_node.config(ipam={"ranges": [[{
        "subnet": cni_node.subnet, "rangeStart": cni_node.prefix(10),
        "rangeEnd": cni_node.prefix(11)}]]})
    pods = [cni_node.pod() for _ in range(3)]
    assert cni_node.run("STATUS", conf) == (0, None)
    assert cni_node.run("ADD", conf, "c0", pods[0])[0] == 0
    assert cni_node.run("ADD", conf, "c1", pods[1])[0] == 0
    rc, out = cni_node.run("STATUS", conf)
    assert rc == 1 and out is not None and out["code"] == 50
    rc, out = cni_node.run("ADD", conf, "c2", pods[2])
    assert rc == 1 and out is not None and out["code"] == 100
    assert len(cni_node.leases()) == 2 and len(ports(cni_node)) == 2
    assert "eth0" not in cni_node.sh("ip", "link", ns=pods[2])


def test_fifty_parallel_adds_get_distinct_addresses(cni_node: CniNode) -> None:
    conf = cni_node.config()
    pods = [cni_node.pod() for _ in range(50)]
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda i: cni_node.run("ADD", conf, f"p{i}", pods[i]),
                                range(50)))
    assert [rc for rc, _ in results] == [0] * 50, [out for rc, out in results if rc]
    ips = [out["ips"][0]["address"] for _rc, out in results if out]
    assert len(set(ips)) == 50
    assert len(cni_node.leases()) == 50 and len(ports(cni_node)) == 50


def test_gc_removes_stale_attachments(cni_node: CniNode) -> None:
    conf = cni_node.config(ipMasq=True)
    pods = [cni_node.pod() for _ in range(3)]
    for i, pod in enumerate(pods):
        assert cni_node.run("ADD", conf, f"c{i}", pod)[0] == 0
    gc = dict(conf, **{"cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]})
    assert cni_node.run("GC", gc) == (0, None)
    assert ports(cni_node) == [host_veth_name("c1", "eth0")]
    assert len(cni_node.leases()) == 1
    ruleset = cni_node.sh("nft", "list", "table", "inet", "podnet-cni-nat")
    assert ruleset.count("comment") == 1 and "/c1/eth0" in ruleset
    assert cni_node.run("GC", dict(conf, **{"cni.dev/attachments": []})) == (0, None)
    assert ports(cni_node) == [] and cni_node.leases() == []
    assert "podnet-cni-nat" not in nft_tables(cni_node)


def test_error_codes_that_need_a_node(cni_node: CniNode) -> None:
    rc, out = cni_node.run("ADD", cni_node.config(), "c1", "/run/netns/pn-does-not-exist")
    assert rc == 1 and out is not None and out["code"] == 3
    rc, out = cni_node.run("ADD", cni_node.config(vlan=7), "c1", cni_node.pod())
    assert rc == 1 and out is not None and out["code"] == 2 and "vlan" in out["details"]
    rc, out = cni_node.run("ADD", cni_node.config("0.2.0"), "c1", cni_node.pod())
    assert rc == 1 and out is not None and out["code"] == 1
    assert ports(cni_node) == [] and cni_node.leases() == []
