"""Pure CNI pieces: version parsing/selection, result conversion, bridge config parsing."""

from __future__ import annotations

import pytest

from podnet.cni import errors
from podnet.cni.bridge_config import host_veth_name, parse
from podnet.cni.conflist import parse_conflist, request_config
from podnet.cni.errors import CniError
from podnet.cni.result import highest, normalize, to_version

RESULT = {
    "cniVersion": "1.1.0",
    "interfaces": [{"name": "cni0", "mac": "aa:bb:cc:dd:ee:ff"},
                   {"name": "eth0", "mac": "aa:bb:cc:dd:ee:00", "sandbox": "/run/netns/x",
                    "pciID": "0000:00:01.0"}],
    "ips": [{"address": "10.250.1.5/24", "gateway": "10.250.1.1", "interface": 1},
            {"address": "fd00::5/64", "interface": 1}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.250.1.1", "mtu": 1400, "priority": 5}],
    "dns": {},
}


def test_to_040_adds_ip_versions_and_drops_11_fields() -> None:
    out = to_version(RESULT, "0.4.0")
    assert out["cniVersion"] == "0.4.0"
    assert [ip["version"] for ip in out["ips"]] == ["4", "6"]
    assert out["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.250.1.1"}]
    assert "pciID" not in out["interfaces"][1]
    assert "dns" not in out


def test_to_100_and_110() -> None:
    one = to_version(RESULT, "1.0.0")
    assert all("version" not in ip for ip in one["ips"])
    assert "mtu" not in one["routes"][0]
    eleven = to_version(RESULT, "1.1.0")
    assert eleven["routes"][0]["mtu"] == 1400
    assert eleven["interfaces"][1]["pciID"] == "0000:00:01.0"


def test_normalize_reads_legacy_results() -> None:
    legacy = to_version(RESULT, "0.3.1")
    back = normalize(legacy)
    assert all("version" not in ip for ip in back["ips"])
    with pytest.raises(CniError) as err:
        normalize({"cniVersion": "0.2.0", "ip4": {}})
    assert err.value.code == errors.INCOMPATIBLE_VERSION


def test_version_selection() -> None:
    assert highest(["0.4.0", "1.0.0", "2.0.0"]) == "1.0.0"
    assert highest(["9.9.9"]) is None
    net = parse_conflist({"cniVersion": "1.0.0", "cniVersions": ["0.4.0", "1.1.0"], "name": "n",
                          "plugins": [{"type": "x"}]})
    assert net.cni_version == "1.1.0"
    with pytest.raises(CniError) as err:
        parse_conflist({"cniVersion": "3.0.0", "name": "n", "plugins": [{"type": "x"}]})
    assert err.value.code == errors.INCOMPATIBLE_VERSION


def test_request_config_injects_and_strips() -> None:
    net = parse_conflist({"cniVersion": "1.0.0", "name": "net1", "plugins": [
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True,
         "cni.dev/private": 1}]})
    caps = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
            "mac": "aa:aa:aa:aa:aa:aa"}
    req = request_config(net, net.plugins[0], caps, prev_result={"cniVersion": "1.0.0"})
    assert req["cniVersion"] == "1.0.0" and req["name"] == "net1"
    assert req["runtimeConfig"] == {"portMappings": caps["portMappings"]}
    assert "capabilities" not in req and "cni.dev/private" not in req
    assert req["snat"] is True and req["prevResult"] == {"cniVersion": "1.0.0"}
    first = request_config(net, net.plugins[0], {})
    assert "runtimeConfig" not in first and "prevResult" not in first


def test_single_plugin_conf_is_wrapped() -> None:
    net = parse_conflist({"cniVersion": "0.4.0", "name": "n", "type": "bridge", "bridge": "b"})
    assert net.plugins == [{"type": "bridge", "bridge": "b"}]


def test_bridge_config() -> None:
    conf = parse({"name": "n", "isDefaultGateway": True, "mtu": 1400, "ipam": {"type": "h"}})
    assert conf.bridge == "cni0" and conf.is_gateway and conf.has_ipam and conf.mtu == 1400
    with pytest.raises(CniError) as err:
        parse({"name": "n", "vlan": 100})
    assert err.value.code == errors.UNSUPPORTED_FIELD and "vlan=100" in err.value.details
    with pytest.raises(CniError) as err:
        parse({"name": "n", "hairpinMode": "yes"})
    assert err.value.code == errors.INVALID_CONFIG
    with pytest.raises(CniError):
        parse({"name": "n", "bridge": "x" * 16})
    assert parse({"name": "n", "vlan": 0}).bridge == "cni0"
    name = host_veth_name("c1", "eth0")
    assert name.startswith("pnv") and len(name) <= 15 and name == host_veth_name("c1", "eth0")
