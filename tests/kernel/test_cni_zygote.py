"""podnet's plugins run forked from the agent's zygote behave exactly like the executables.

The invoker with a :class:`Zygote` and the invoker exec'ing the launchers are
driven side by side on one node: same results, same errors and codes, leases
unique under parallel ADDs, a killed zygote is replaced on the next call, and
an executable that is not podnet's own launcher (a wrapper put first in
CNI_PATH) is exec'd, also when the bridge delegates IPAM to it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import CniNode
from podnet.cni.conflist import NetworkConfigList, parse_conflist
from podnet.cni.errors import CniError
from podnet.cni.invoker import CniInvoker, RuntimeConf
from podnet.cni.paths import Launchers, cni_path
from podnet.cni.zygote import Zygote
from podnet.kernel import netns


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    z = Zygote(cni_path())
    z.start()  # from the test's (host) thread: it must not live in a namespace the test deletes
    yield z
    z.close()


def _net(node: CniNode, **extra: object) -> NetworkConfigList:
    plugin = node.config()
    plugin.update(extra)
    plugin.pop("cniVersion")
    plugin.pop("name")
    return parse_conflist({"cniVersion": "1.1.0", "name": f"z-{node.bridge}", "plugins": [plugin]})


def _shape(result: dict[str, Any]) -> dict[str, Any]:
    """A result with what differs between two attachments (addresses, MACs, names) blanked."""
    text = json.dumps(result)
    out = json.loads(text)
    for ip in out["ips"]:
        ip["address"] = ip["address"].rsplit(".", 1)[0]
    for itf in out["interfaces"]:
        itf["mac"] = len(itf["mac"])
        itf["name"] = itf["name"][:3]
        if "sandbox" in itf:
            itf["sandbox"] = "pod"
    return out


def test_zygote_results_match_the_executables(cni_node: CniNode, zygote: Zygote) -> None:
    node = cni_node
    net = _net(node)
    fresh = CniInvoker([cni_path()], node.cache_dir, netns=node.ns)
    forked = CniInvoker([cni_path()], node.cache_dir, netns=node.ns, zygote=zygote)
    pods = [node.pod(), node.pod()]
    results = []
    for i, (inv, pod) in enumerate(zip((fresh, forked), pods, strict=True)):
        rt = RuntimeConf(f"z{i}", pod)
        results.append(inv.add(net, rt))
        inv.check(net, rt)
    assert _shape(results[0]) == _shape(results[1])
    assert results[0]["ips"][0]["address"] != results[1]["ips"][0]["address"]
    # the forked plugin worked in the calling thread's namespace (the node), not the host's
    assert node.bridge in {link["ifname"] for link in node.links()}
    # and put the address on eth0 inside the pod
    assert results[1]["ips"][0]["address"].split("/")[0] in node.sh("ip", "-br", "addr", ns=pods[1])
    # a removed address makes CHECK fail the same way through either path
    node.sh("ip", "addr", "flush", "dev", "eth0", ns=pods[1])
    codes = []
    for inv in (fresh, forked):
        with pytest.raises(CniError) as err:
            inv.check(net, RuntimeConf("z1", pods[1]))
        codes.append((err.value.code, err.value.msg))
    assert codes[0] == codes[1]
    for i, (inv, pod) in enumerate(zip((forked, fresh), pods, strict=True)):
        inv.delete(net, RuntimeConf(f"z{i}", pod))
    assert node.leases() == []
    assert not [ln for ln in node.links() if ln["ifname"].startswith("pnv")]


def test_zygote_errors_keep_their_codes(cni_node: CniNode, zygote: Zygote) -> None:
    node = cni_node
    bad = _net(node, ipam={"type": "podnet-host-local", "dataDir": node.data_dir,
                           "ranges": [[{"subnet": "10.250.1.7/32"}]]})
    pod = node.pod()
    seen = []
    for z in (None, zygote):
        inv = CniInvoker([cni_path()], node.cache_dir, netns=node.ns, zygote=z)
        with pytest.raises(CniError) as err:
            inv.add(bad, RuntimeConf("zbad", pod))
        seen.append((err.value.code, err.value.msg, err.value.details))
    assert seen[0] == seen[1]
    assert seen[0][0] == 7
    # a failed ADD left nothing behind in either case
    assert node.leases() == []
    assert not [ln for ln in node.links() if ln["ifname"].startswith("pnv")]
    assert "eth0" not in node.sh("ip", "-br", "link", ns=pod)


def test_zygote_parallel_adds_get_unique_addresses(cni_node: CniNode, zygote: Zygote) -> None:
    node = cni_node
    net = _net(node)
    inv = CniInvoker([cni_path()], node.cache_dir, netns=node.ns, zygote=zygote)
    pods = [node.pod() for _ in range(16)]

    def add(i: int) -> str:
        return str(inv.add(net, RuntimeConf(f"p{i}", pods[i]))["ips"][0]["address"])

    with ThreadPoolExecutor(8) as pool:
        addresses = list(pool.map(add, range(len(pods))))
    assert len(set(addresses)) == len(pods)
    assert len(node.leases()) == len(pods)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: inv.delete(net, RuntimeConf(f"p{i}", pods[i])),
                      range(len(pods))))
    assert node.leases() == []


def test_a_killed_zygote_is_replaced(cni_node: CniNode, zygote: Zygote) -> None:
    node = cni_node
    net = _net(node)
    inv = CniInvoker([cni_path()], node.cache_dir, netns=node.ns, zygote=zygote)
    assert zygote._proc is not None
    os.kill(zygote._proc.pid, signal.SIGKILL)
    zygote._proc.wait()
    pod = node.pod()
    result = inv.add(net, RuntimeConf("zk", pod))
    assert result["ips"]
    inv.delete(net, RuntimeConf("zk", pod))
    assert node.leases() == []


def test_a_crashing_module_gives_a_failed_call_not_a_hang(zygote: Zygote) -> None:
    code, out, err = zygote.run("podnet.cni.no_such_plugin", {}, b"{}", timeout=30)
    assert code == 1 and out == b""
    assert b"ModuleNotFoundError" in err


def test_other_executables_are_execd_also_for_ipam(cni_node: CniNode, zygote: Zygote,
                                                    tmp_path: Path) -> None:
    """A wrapper named podnet-host-local first in CNI_PATH is not podnet's launcher: it runs."""
    node = cni_node
    wrappers = tmp_path / "wrappers"
    wrappers.mkdir()
    log = tmp_path / "calls.log"
    real = os.path.join(cni_path(), "podnet-host-local")
    script = wrappers / "podnet-host-local"
    script.write_text(f"#!/bin/sh\necho \"$CNI_COMMAND\" >> {log}\nexec {real}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    net = _net(node)
    inv = CniInvoker([str(wrappers), cni_path()], node.cache_dir, netns=node.ns, zygote=zygote)
    pod = node.pod()
    inv.add(net, RuntimeConf("zw", pod))
    inv.delete(net, RuntimeConf("zw", pod))
    assert log.read_text().split() == ["ADD", "DEL"]
    assert node.leases() == []


def test_launchers_are_recognised_by_content_and_identity(tmp_path: Path) -> None:
    copy = tmp_path / "cni"
    shutil.copytree(cni_path(), copy)
    known = Launchers(str(copy))
    assert known.module_of(str(copy / "podnet-bridge")) == "podnet.cni.bridge"
    assert known.module_of(str(copy / "podnet-host-local")) == "podnet.cni.host_local"
    assert known.module_of("/usr/lib/cni/bridge") is None
    # replaced after it was recognised: exec'd from then on
    target = copy / "podnet-bridge"
    text = target.read_text()
    target.unlink()
    target.write_text(text + "# changed\n")
    assert known.module_of(str(target)) is None
    # a file that is not the launcher text is never recognised
    assert Launchers(str(copy)).module_of(str(target)) is None


def test_namespace_create_and_delete_in_process(netns_factory: object) -> None:
    name = f"pn-t{os.getpid()}-inproc"
    before = os.stat("/proc/thread-self/ns/net").st_ino
    try:
        netns.create(name)
        assert os.stat("/proc/thread-self/ns/net").st_ino == before  # the thread came back
        assert os.stat(netns.path_of(name)).st_ino != before
        assert name in netns.names()
        with pytest.raises(FileExistsError):
            netns.create(name)
    finally:
        assert netns.delete(name)
    assert not netns.delete(name)
    assert name not in netns.names()


def test_namespace_without_ipv6_on_new_links_keeps_loopback_ipv6(netns_factory: object) -> None:
    """A pod sandbox of the IPv4-only pod network: its eth0 gets no IPv6, lo keeps ::1."""
    import subprocess

    name = f"pn-t{os.getpid()}-v4only"
    try:
        netns.create(name, ipv6_on_new_links=False)
        subprocess.run(["ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
                       check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "eth0", "up"], check=True)
        addrs = subprocess.run(["ip", "-n", name, "-6", "addr"], capture_output=True, text=True,
                               check=True).stdout
        assert "::1/128" in addrs and "eth0" not in addrs and "eth1" not in addrs
    finally:
        netns.delete(name)
