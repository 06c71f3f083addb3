"""Fixtures for kernel (root) tests: throwaway namespaces, and a CNI "node".

``netns_factory`` makes uniquely named namespaces (``pn-t<random>-<suffix>``)
and deletes them after the test whatever happened. ``cni_node`` builds on it:
a node namespace, a bridge name ``pnt<random>`` (made by the plugin *inside*
the node namespace, never in the host's), a subnet of 10.250.0.0/16 of its
own, and tmp dirs for host-local's dataDir and the invoker's cache. Its
``run`` executes a plugin exactly like a runtime does: a separate process in
the node namespace (``ip netns exec``), CNI_* variables, the config on stdin,
JSON on stdout -- no podnet code on the caller's side.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from podnet.cni.paths import cni_path
from podnet.kernel import netns

REFERENCE_DIR = "/usr/lib/cni"
_subnets = itertools.count(random.randrange(0, 200))


def _root_state() -> tuple[list[str], list[str]]:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return ([ln.split(":")[1].strip().split("@")[0] for ln in links.splitlines()],
            tables.splitlines())


@pytest.fixture
def netns_factory() -> Iterator[Callable[[str], str]]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    tag = f"pn-t{uuid.uuid4().hex[:6]}"
    made: list[str] = []
    links_before, tables_before = _root_state()

    def make(suffix: str) -> str:
        name = f"{tag}-{suffix}"
        netns.create(name)
        made.append(name)
        return name

    try:
        yield make
    finally:
        for name in reversed(made):
            netns.delete(name)
        assert not [n for n in netns.names() if n.startswith(tag)]
        links_after, tables_after = _root_state()
        # Nothing of ours may appear in the host namespace (others' tests may run meanwhile,
        # so only podnet-test names are compared).
        ours = [n for n in links_after if n.startswith(("pnt", "pnv")) and n not in links_before]
        assert not ours, f"links leaked into the root namespace: {ours}"
        assert [t for t in tables_after if "podnet-cni" in t] == [
            t for t in tables_before if "podnet-cni" in t]


@dataclass
class CniNode:
    ns: str
    bridge: str
    subnet: str  # "10.250.N.0/24"
    data_dir: str
    cache_dir: str
    make_ns: Callable[[str], str]
    pods: itertools.count = field(default_factory=itertools.count)

    @property
    def path(self) -> str:
        return f"{cni_path()}:{REFERENCE_DIR}"

    def pod(self) -> str:
        return netns.path_of(self.make_ns(f"pod{next(self.pods)}"))

    def prefix(self, host: int) -> str:
        return self.subnet.rsplit(".", 1)[0] + f".{host}"

    def config(self, version: str = "1.1.0", bridge_type: str = "podnet-bridge",
               ipam_type: str = "podnet-host-local", **extra: Any) -> dict[str, Any]:
        ipam = {"type": ipam_type, "dataDir": self.data_dir,
                "ranges": [[{"subnet": self.subnet}]],
                "routes": [{"dst": "10.250.0.0/16", "gw": self.prefix(1)}]}
        ipam.update(extra.pop("ipam", {}))
        conf = {"cniVersion": version, "name": f"net-{self.bridge}", "type": bridge_type,
                "bridge": self.bridge, "isGateway": True, "ipam": ipam}
        conf.update(extra)
        return conf

    def run(self, command: str, config: dict[str, Any], cid: str = "", pod: str = "",
            ifname: str = "eth0", plugin: str | None = None, **env: str
            ) -> tuple[int, dict[str, Any] | None]:
        """One plugin process in the node namespace, like a runtime runs it."""
        exe_name = plugin or str(config["type"])
        directory = cni_path() if exe_name.startswith("podnet-") else REFERENCE_DIR
        full = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        full.update(CNI_COMMAND=command, CNI_CONTAINERID=cid, CNI_NETNS=pod,
                    CNI_IFNAME=ifname, CNI_PATH=self.path)
        full.update(env)
        proc = subprocess.run(["ip", "netns", "exec", self.ns, os.path.join(directory, exe_name)],
                              input=json.dumps(config).encode(), capture_output=True,
                              env=full, timeout=60)
        out = proc.stdout.decode().strip()
        return proc.returncode, (json.loads(out) if out else None)

    def sh(self, *cmd: str, ns: str | None = None) -> str:
        """A command's stdout inside the node (or another) namespace."""
        name = os.path.basename(ns or self.ns)
        return subprocess.run(["ip", "netns", "exec", name, *cmd], check=True,
                              capture_output=True, text=True).stdout

    def links(self, ns: str | None = None) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(self.sh("ip", "-d", "-j", "link", ns=ns))
        return data

    def leases(self) -> list[str]:
        d = Path(self.data_dir)
        return sorted(p.name for p in d.glob("*/*")
                      if p.name != "lock" and not p.name.startswith("last_"))


@pytest.fixture
def cni_node(netns_factory: Callable[[str], str], tmp_path: Path) -> CniNode:
    node = netns_factory("node")
    third = next(_subnets) % 250
    return CniNode(
        ns=node,
        bridge=f"pnt{uuid.uuid4().hex[:8]}",
        subnet=f"10.250.{third}.0/24",
        data_dir=str(tmp_path / "ipam"),
        cache_dir=str(tmp_path / "cache"),
        make_ns=netns_factory,
    )
