"""Where a node agent keeps its state, under the cluster's state directory.

``<state>/nodes/<node>/``: ``net.d/`` (the node's CNI conflist), ``cni-cache/``
(libcni-style results), ``ipam/`` (host-local leases), ``netexec/`` (pod specs
for the built-in server), ``pods/<uid>.json`` (what runs for each pod),
``logs/<ns>_<pod>_<uid>/<container>.log``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from podnet.api.config import state_dir


@dataclass(frozen=True)
class NodePaths:
    cluster: str
    node: str

    @cached_property
    def root(self) -> Path:  # computed once: the agent asks for its paths on every pod operation
        return state_dir(self.cluster) / "nodes" / self.node

    @property
    def net_d(self) -> Path:
        return self.root / "net.d"

    @property
    def cni_cache(self) -> Path:
        return self.root / "cni-cache"

    @property
    def ipam(self) -> Path:
        return self.root / "ipam"

    @property
    def netexec(self) -> Path:
        return self.root / "netexec"

    @property
    def pods(self) -> Path:
        return self.root / "pods"

    def logs(self, namespace: str, pod: str, uid: str) -> Path:
        return self.root / "logs" / f"{namespace}_{pod}_{uid}"

    @property
    def agent_log(self) -> Path:
        return self.root / "agent.log"


def pod_netns_name(cluster: str, namespace: str, pod: str) -> str:
    """``pn-<cluster>-<ns>.<pod>``, shortened with a hash when very long.

    Namespaces are DNS labels (no dots), so the dot makes the name unambiguous
    and distinct from the node, underlay and external namespaces (no dots)."""
    name = f"pn-{cluster}-{namespace}.{pod}"
    if len(name) <= 120:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[:100]}-{digest}"
