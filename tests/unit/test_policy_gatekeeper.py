"""The gatekeeper loop over a real store and informers, applying to a real kernel table
in a throwaway network namespace: every full and incremental transaction it writes
must be accepted by nft, the table must follow changes, and ``admit`` must return
only once the new pod's isolation is in the kernel."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from policy_world import make_ns, make_pod, policy

from podnet.api.config import ClusterConfig
from podnet.controllers.informer import InformerSet
from podnet.policy.gatekeeper import Gatekeeper, KernelBackend
from podnet.store.memory import MemoryStore

pytestmark = [pytest.mark.root]


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"pn-t{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def nft_list(netns: str, *what: str) -> str:
    return subprocess.run(["ip", "netns", "exec", netns, "nft", "list", *what],
                          capture_output=True, text=True, check=True).stdout


def set_elements(netns: str, name: str) -> str:
    return nft_list(netns, "set", "inet", "podnet-policy", name)


async def _scenario(netns: str) -> dict[str, Any]:
    store = MemoryStore()
    for ns in ("x", "y"):
        await store.create("namespaces", make_ns(ns))
        for p in ("a", "b"):
            await store.create("pods", make_pod(ns, p))
    informers = InformerSet(store)
    for r in ("pods", "namespaces", "networkpolicies"):
        informers.get(r)
    informers.start()
    await informers.wait_synced()
    gk = Gatekeeper("node-1", "172.18.0.11", ClusterConfig(), informers,
                    backend=KernelBackend(netns), check_period=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(gk.run(stop))
    seen: dict[str, Any] = {}
    try:
        await gk.wait_applied(gk.generation)
        seen["empty"] = set_elements(netns, "ingress-isolated")
        await store.create("networkpolicies", policy("x", "allow", {
            "podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                                            "ports": [{"port": "serve-80-tcp"}, {"port": 81, "endPort": 90}]}],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24"]}}]}]}))
        await asyncio.sleep(0.3)
        await gk.wait_applied(gk.generation)
        seen["policy"] = nft_list(netns, "table", "inet", "podnet-policy")
        ns_y = await store.get("namespaces", "", "y")
        ns_y["metadata"]["labels"] = {"ns": "other"}
        await store.update("namespaces", ns_y)
        await asyncio.sleep(0.3)
        await gk.wait_applied(gk.generation)
        seen["relabelled"] = [r.mode for r in gk.syncs]
        seen["after_relabel"] = nft_list(netns, "table", "inet", "podnet-policy")
        # a new pod, admitted with its IP before the store knows it
        new = make_pod("x", "c")
        new["status"] = {"phase": "Pending"}
        new = await store.create("pods", new)
        await asyncio.sleep(0.1)
        with_ip = {**new, "status": {"podIP": "10.244.1.99"}}
        await asyncio.wait_for(gk.admit(with_ip), 10)
        seen["admitted"] = set_elements(netns, "ingress-isolated")
        # drift: someone deletes the table
        subprocess.run(["ip", "netns", "exec", netns, "nft", "delete", "table", "inet", "podnet-policy"],
                       check=True)
        for _ in range(50):
            await asyncio.sleep(0.1)
            if "podnet-policy" in nft_list(netns, "tables"):
                break
        seen["restored"] = set_elements(netns, "ingress-isolated")
        seen["errors"] = [r.error for r in gk.syncs if r.error]
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await informers.stop()
    return seen


def test_gatekeeper_follows_the_store_into_the_kernel(netns: str) -> None:
    seen = asyncio.run(_scenario(netns))
    assert seen["errors"] == []
    assert "elements" not in seen["empty"]
    table = seen["policy"]
    # pods of x on node-1 (policy_world: x/a on node-1, x/b on node-2) are isolated both ways
    assert "10.244.2.10/31" in table  # y/a and y/b (10 and 11) are the peers from y
    assert "10.244.0.0/23, 10.244.3.0-10.244.255.255" in table  # the ipBlock minus its except
    assert "81-90" in table
    assert "incremental" in seen["relabelled"]
    after = seen["after_relabel"]
    assert "10.244.2.10" not in after  # y is no longer a peer
    assert "10.244.1.99" in seen["admitted"]
    assert "10.244.1.99" in seen["restored"]


def test_random_worlds_and_their_diffs_are_accepted_by_nft(netns: str) -> None:
    """Every table shape the compiler writes (random selectors, ipBlocks, overlapping port
    ranges, named ports) and every delta between them must load into the real kernel."""
    from test_policy_reference import world

    from podnet.kernel import nft_apply
    from podnet.policy import nftstate
    from podnet.policy.nftplan import compile_node
    from podnet.policy.resolve import resolve

    previous = None
    incremental = 0
    for seed in range(12):
        pods, namespaces, policies = world(seed)
        for i, p in enumerate(pods):
            p["spec"]["nodeName"] = f"node-{i % 2 + 1}"
        table = compile_node(resolve(pods, namespaces, policies), "node-1")
        delta = nftstate.changes(previous, table) if previous is not None else None
        if delta is None:
            nft_apply.apply(nftstate.full(table), netns)
        else:
            nft_apply.apply(delta.script or "\n", netns)
            incremental += 1
        previous = table
    assert incremental >= 1
    listed = nft_list(netns, "table", "inet", "podnet-policy")
    assert "chain forward" in listed and "no ingress rule admits it" in listed
