"""Build and remove a cluster's namespaces and links from its Topology.

Creation is ordered (namespaces, underlay with the veths into each node, then
each node's addresses, routes, overlay and masquerade); removal deletes exactly
the namespaces the topology names (deleting a namespace deletes every link in
it, and a veth dies with its peer) plus their ``/etc/netns`` entries.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from podnet.cluster.topology import (
    Topology,
    external_commands,
    node_commands,
    node_fdb_commands,
    node_masquerade_ruleset,
    router_commands,
    underlay_commands,
)
from podnet.kernel import iproute, netns, nft

ETC_NETNS = Path("/etc/netns")


def create(t: Topology) -> None:
    """Create every namespace and link of ``t``; raises (after removing what it made) on failure."""
    try:
        for name in t.namespaces:
            netns.create(name)
        iproute.batch(t.underlay_ns, underlay_commands(t))
        if t.router_ns:
            iproute.sysctl(t.router_ns, "net.ipv4.ip_forward", "1")
            iproute.batch(t.router_ns, router_commands(t))
        iproute.batch(t.external_ns, external_commands(t))
        for n in t.nodes:
            iproute.sysctl(n.netns, "net.ipv4.ip_forward", "1")
            iproute.batch(n.netns, node_commands(t, n))
            iproute.batch(n.netns, node_fdb_commands(t, n), tool="bridge")
            with netns.entered(n.netns):
                nft.apply(node_masquerade_ruleset(t, n))
    except Exception:
        remove(t.namespaces)
        raise


def remove(namespaces: list[str]) -> list[str]:
    """Delete the named namespaces and their /etc/netns entries; returns what was deleted."""
    gone: list[str] = []
    for name in namespaces:
        with contextlib.suppress(Exception):
            if netns.delete(name):
                gone.append(name)
        entry = ETC_NETNS / name
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
    return gone
