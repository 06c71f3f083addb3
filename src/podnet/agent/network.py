"""A node's pod network: its CNI conflist and the ADD/DEL calls for each pod.

The conflist (``<node>/net.d/10-podnet.conflist``) chains podnet-bridge with
podnet-host-local IPAM on the node's pod range: bridge ``cni0`` as the pods'
gateway, hairpin on (a pod reaching itself through its Service), no ipMasq
(the node masquerades only traffic leaving the pod network, so pod-to-pod
traffic across nodes keeps its source), MTU 1450 under VXLAN. The runtime side
is podnet's libcni-like invoker, so the reference plugins work from the same
place (``PODNET_CNI_PLUGINS=reference``).

podnet's own plugins are run forked from a zygote the agent keeps
(:mod:`podnet.cni.zygote`): the same executables, inputs and outputs, without
starting two interpreters per pod. ``PODNET_CNI_EXEC=fresh`` turns that off.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from podnet.agent.paths import NodePaths
from podnet.api.config import ClusterConfig, NodeConfig
from podnet.api.kinds import Obj
from podnet.kernel import netns

NETWORK_NAME = "podnet"
CONFLIST = "10-podnet.conflist"
REFERENCE_DIR = "/usr/lib/cni"


def conflist(
    config: ClusterConfig, node: NodeConfig, paths: NodePaths, reference: bool = False
) -> dict[str, Any]:
    """The node's network configuration list (CNI 1.1)."""
    ipam = {"type": "host-local" if reference else "podnet-host-local",
            "ranges": [[{"subnet": node.pod_cidr}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": str(paths.ipam)}
    bridge: dict[str, Any] = {
        "type": "bridge" if reference else "podnet-bridge",
        "bridge": "cni0", "isGateway": True, "isDefaultGateway": False, "ipMasq": False,
        "hairpinMode": True, "ipam": ipam,
    }
    if config.network == "vxlan":
        bridge["mtu"] = 1450
    return {"cniVersion": "1.0.0" if reference else "1.1.0", "name": NETWORK_NAME,
            "plugins": [bridge, {"type": "portmap", "capabilities": {"portMappings": True}}]
            if reference else [bridge]}


class PodNetwork:
    """CNI ADD/DEL for pods of one node, through podnet's invoker."""

    def __init__(self, paths: NodePaths, node: NodeConfig, config: ClusterConfig,
                 reference: bool = False) -> None:
        self.paths, self.node, self.config = paths, node, config
        self.reference = reference
        self.zygote: Any = None
        self._dirs: list[str] | None = None  # the CNI path

    def _start_zygote(self) -> None:
        if self.reference or os.environ.get("PODNET_CNI_EXEC") == "fresh":
            return
        from podnet.cni.paths import cni_path
        from podnet.cni.zygote import Zygote

        self.zygote = Zygote(cni_path())
        self.zygote.start()

    def close(self) -> None:
        """Stop the zygote (plugin calls in flight finish on their own)."""
        if self.zygote is not None:
            self.zygote.close()

    def prepare(self) -> None:
        self.paths.net_d.mkdir(parents=True, exist_ok=True)
        text = json.dumps(conflist(self.config, self.node, self.paths, self.reference), indent=2)
        target = self.paths.net_d / CONFLIST
        if not target.exists() or target.read_text() != text:
            tmp = target.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, target)
        if self.zygote is None:
            self._start_zygote()

    def _invoker(self) -> tuple[Any, Any]:
        from podnet.cni.conflist import load_conflist
        from podnet.cni.invoker import CniInvoker
        from podnet.cni.paths import cni_path

        if self._dirs is None:  # the launchers are (re)written once per agent, not per pod
            self._dirs = [REFERENCE_DIR, cni_path()] if self.reference else [cni_path(), REFERENCE_DIR]
        dirs = self._dirs
        net = load_conflist(str(self.paths.net_d / CONFLIST))
        return CniInvoker(dirs, str(self.paths.cni_cache), zygote=self.zygote), net

    @staticmethod
    def _runtime(container_id: str, path: str, pod: Obj | None) -> Any:
        from podnet.cni.invoker import RuntimeConf

        m = (pod or {}).get("metadata") or {}
        # IgnoreUnknown=1 first, as CRI runtimes send it: plugins that know no K8S_* keys
        # (the reference bridge, for one) would otherwise refuse the call.
        args = [("IgnoreUnknown", "1"),
                ("K8S_POD_NAMESPACE", m.get("namespace", "")), ("K8S_POD_NAME", m.get("name", "")),
                ("K8S_POD_INFRA_CONTAINER_ID", container_id), ("K8S_POD_UID", m.get("uid", ""))]
        return RuntimeConf(container_id, path, "eth0", args if m else [])

    def add(self, container_id: str, ns: str, pod: Obj) -> str:
        """ADD the pod's eth0; returns its IPv4 address."""
        invoker, net = self._invoker()
        result = invoker.add(net, self._runtime(container_id, netns.path_of(ns), pod))
        for ip in result.get("ips") or []:
            addr = str(ip.get("address", ""))
            if addr and ":" not in addr:
                return addr.split("/")[0]
        raise RuntimeError(f"CNI ADD for {container_id} returned no IPv4 address: {result}")

    def delete(self, container_id: str, ns: str, pod: Obj | None) -> None:
        """DEL the pod's attachment (idempotent: the netns may already be gone)."""
        invoker, net = self._invoker()
        path = netns.path_of(ns)
        invoker.delete(net, self._runtime(container_id, path if Path(path).exists() else "", pod))
