"""The offline pipeline: manifests (or a cluster dump) -> the cluster state controllers make.

``load(paths)`` runs what a live cluster does, in process, with no server and no
root: parse (``podnet.api.loader``), validate and default all documents
(``podnet.api.errors.check_documents``, all-or-nothing), then create everything
through the ``Registry`` (admission, ClusterIP/NodePort allocation) on a
``MemoryStore`` — namespaces first, then nodes, then Services that ask for a
ClusterIP before those that do not — and converge the controllers together
with the offline kubelet until nothing changes. The result is a ``ClusterState``:
pods bound to nodes with pod IPs, Services with ClusterIPs, EndpointSlices.

Nodes: the Node objects of the input when there are any, else
``config.with_nodes(3)``; a node named by a pod's ``spec.nodeName`` but not in
the input is added (with the pod's ``hostIP`` when known). Nodes without a
podCIDR get the next free /24 of the pod range.

Deterministic: generated names come from hashes of the owner's identity, the
Registry's allocator is seeded, pods get IPs in name order; the same inputs give
the same names and addresses on every run. A dump of a real cluster keeps its
pods' status (podIP, hostIP, phase) and Services' clusterIPs; a Service whose
EndpointSlices are in the input keeps exactly those (a dump may lack the pods).
No heartbeat checks and no garbage collection run offline, so a partial dump
(pods without their ReplicaSet, nodes with old heartbeats) stays as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from podnet.api.config import ClusterConfig, NodeConfig, default_node, node_pod_cidr
from podnet.api.errors import InvalidInput, check_documents
from podnet.api.kinds import (
    BY_KIND,
    BY_PLURAL,
    Obj,
    kind_of,
    labels_of,
    lookup,
    name_of,
    namespace_of,
    node_internal_ip,
    rfc3339,
)
from podnet.api.validation import ValidationContext
from podnet.apiserver.registry import Registry
from podnet.controllers.base import ControllerOptions
from podnet.controllers.defaults import SYSTEM_NAMESPACES, namespace
from podnet.controllers.endpointslice import SERVICE_NAME
from podnet.controllers.manager import OFFLINE_CONTROLLERS, ControllerManager
from podnet.controllers.podutil import condition
from podnet.offline_kubelet import OfflineKubelet
from podnet.store.base import AlreadyExists, StoreError
from podnet.store.memory import MemoryStore

DEFAULT_NODES = 3
CREATE_ORDER = ("namespaces", "nodes", "configmaps", "secrets", "services", "endpointslices",
                "deployments", "replicasets", "statefulsets", "daemonsets", "pods",
                "networkpolicies", "ingressclasses", "ingresses", "leases", "events")


@dataclass(frozen=True)
class ClusterState:
    """Every object of the converged cluster, by REST plural, sorted by (namespace, name)."""

    objects: dict[str, list[Obj]]
    warnings: list[str] = field(default_factory=list)
    config: ClusterConfig = field(default_factory=ClusterConfig)
    _index: dict[tuple[str, str, str], Obj] = field(default_factory=dict, repr=False,
                                                    compare=False)

    def of(self, resource: str) -> list[Obj]:
        return self.objects.get(lookup(resource).plural, [])

    @property
    def pods(self) -> list[Obj]:
        return self.of("pods")

    @property
    def services(self) -> list[Obj]:
        return self.of("services")

    @property
    def endpoint_slices(self) -> list[Obj]:
        return self.of("endpointslices")

    @property
    def nodes(self) -> list[Obj]:
        return self.of("nodes")

    @property
    def namespaces(self) -> list[Obj]:
        return self.of("namespaces")

    @property
    def network_policies(self) -> list[Obj]:
        return self.of("networkpolicies")

    @property
    def ingresses(self) -> list[Obj]:
        return self.of("ingresses")

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """One object by kind (``Pod``, ``pods``, ``po``...), namespace ("" if cluster-scoped), name."""
        if not self._index:
            for plural, items in self.objects.items():
                for o in items:
                    self._index[(plural, namespace_of(o), name_of(o))] = o
        k = lookup(kind)
        return self._index.get((k.plural, namespace if k.namespaced else "", name))


def load(paths: Sequence[str], config: ClusterConfig | None = None) -> ClusterState:
    """Parse, validate, admit and converge ``paths`` (files, directories, ``-``)."""
    return asyncio.run(load_async(paths, config))


async def load_async(paths: Sequence[str], config: ClusterConfig | None = None) -> ClusterState:
    from podnet.api.loader import load_paths  # the loader pulls in YAML parsing

    result = load_paths(list(paths))
    warnings = [str(w) for w in result.warnings]
    if config is None:
        config = ClusterConfig()
        inferred = infer_service_cidr([d.obj for d in result.documents], config.service_cidr)
        if inferred != config.service_cidr:
            config = dataclasses.replace(config, service_cidr=inferred)
            warnings.append(f"warning: the input's clusterIPs are outside {ClusterConfig().service_cidr}; "
                            f"using the service CIDR {inferred} that holds them (a dump of another cluster)")
    ctx = ValidationContext(service_cidr=config.service_cidr,
                            node_port_range=config.node_port_range)
    objs = check_documents(list(result.documents), ctx)
    return await build(objs, config, warnings)


def infer_service_cidr(objs: Sequence[Obj], default: str) -> str:
    """``default``, or when the input's Services carry clusterIPs outside it (a dump of a
    k3s cluster uses 10.43.0.0/16, say) the smallest range around ``default``'s prefix
    length that holds them all — widened until it does."""
    ips = []
    for o in objs:
        if o.get("kind") != "Service":
            continue
        spec = o.get("spec") or {}
        for ip in [spec.get("clusterIP"), *(spec.get("clusterIPs") or [])]:
            with contextlib.suppress(ValueError, TypeError):
                addr = ipaddress.ip_address(str(ip))
                if addr.version == 4:
                    ips.append(addr)
    net = ipaddress.ip_network(default)
    if all(ip in net for ip in ips):
        return default
    candidate = ipaddress.ip_network(f"{ips[0]}/{net.prefixlen}", strict=False)
    while not all(ip in candidate for ip in ips) and candidate.prefixlen > 1:
        candidate = candidate.supernet()
    return str(candidate)


def _order(obj: Obj) -> tuple[int, int]:
    plural = kind_of(obj).plural
    rank = CREATE_ORDER.index(plural) if plural in CREATE_ORDER else len(CREATE_ORDER)
    asks_ip = plural == "services" and bool((obj.get("spec") or {}).get("clusterIP"))
    return rank, 0 if asks_ip else 1


def _node(nc: NodeConfig, now: str) -> Obj:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": nc.name, "labels": {"kubernetes.io/hostname": nc.name,
                                                 "kubernetes.io/os": "linux",
                                                 "kubernetes.io/arch": "amd64"}},
        "spec": {"podCIDR": nc.pod_cidr, "podCIDRs": [nc.pod_cidr]} if nc.pod_cidr else {},
        "status": {
            "addresses": [{"type": "InternalIP", "address": nc.ip},
                          {"type": "Hostname", "address": nc.name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": now, "lastTransitionTime": now}],
        },
    }


def plan_nodes(objs: list[Obj], config: ClusterConfig, now: str) -> tuple[list[Obj], list[str]]:
    """The Node objects to create: the input's (completed) or the default ones, plus
    any node pods are bound to that is not among them."""
    warnings: list[str] = []
    nodes = [o for o in objs if o.get("kind") == "Node"]
    if not nodes:
        nodes = [_node(nc, now) for nc in config.with_nodes(DEFAULT_NODES).nodes]
    known = {name_of(n) for n in nodes}
    for pod in objs:
        node_name = str((pod.get("spec") or {}).get("nodeName") or "") if pod.get(
            "kind") == "Pod" else ""
        if node_name and node_name not in known:
            host_ip = str((pod.get("status") or {}).get("hostIP") or "")
            base = default_node(config, len(nodes) + 1)
            nodes.append(_node(NodeConfig(node_name, host_ip or base.ip, ""), now))
            known.add(node_name)
            warnings.append(f"node {node_name} is not in the input; added it")
    taken = {str((n.get("spec") or {}).get("podCIDR") or "") for n in nodes}
    index = 1
    for n in nodes:
        spec = n.setdefault("spec", {})
        if not spec.get("podCIDR"):
            while node_pod_cidr(config.pod_cidr, index) in taken:
                index += 1
            spec["podCIDR"] = node_pod_cidr(config.pod_cidr, index)
            spec["podCIDRs"] = [spec["podCIDR"]]
            taken.add(spec["podCIDR"])
        status = n.setdefault("status", {})
        if not node_internal_ip(n):
            net = ipaddress.ip_network(spec["podCIDR"], strict=False)
            idx = (int(net.network_address) >> 8) & 0xFF or index
            status.setdefault("addresses", []).append(
                {"type": "InternalIP", "address": default_node(config, idx).ip})
        if "pods" not in (status.get("allocatable") or {}):  # as many as the range holds
            pods = str(ipaddress.ip_network(spec["podCIDR"], strict=False).num_addresses - 3)
            status.setdefault("capacity", {}).setdefault("pods", pods)
            status.setdefault("allocatable", {})["pods"] = pods
        if not any(c.get("type") == "Ready" for c in status.get("conditions") or []):
            status.setdefault("conditions", []).append(_node(
                NodeConfig(name_of(n), "", ""), now)["status"]["conditions"][0])
    return nodes, warnings


async def build(objs: list[Obj], config: ClusterConfig | None = None,
                warnings: Sequence[str] = ()) -> ClusterState:
    """Admit already validated objects into a fresh store and converge the controllers."""
    config = config or ClusterConfig()
    notes = list(warnings)
    registry = Registry(MemoryStore(), config, rng=random.Random(0))
    node_objs, node_notes = plan_nodes(objs, config, rfc3339(time.time()))
    notes += node_notes
    rest = sorted((o for o in objs if o.get("kind") not in ("Node",)), key=_order)
    problems: list[str] = []
    wanted_ns = {name_of(o) for o in rest if o.get("kind") == "Namespace"}
    implicit = sorted({namespace_of(o) or "default" for o in rest
                       if kind_of(o).namespaced} - wanted_ns)
    for ns in implicit:
        if ns not in SYSTEM_NAMESPACES:
            notes.append(f"namespace {ns} is not in the input; created it")
        await _admit(registry, namespace(ns), problems)
    for obj in [*node_objs, *rest]:
        await _admit(registry, obj, problems)
    if problems:
        raise InvalidInput(list(problems))
    observed = {(namespace_of(o) or "default", name_of(o)) for o in objs
                if o.get("kind") == "Pod" and (o.get("status") or {}).get("phase")}
    observed_slices = frozenset(
        (namespace_of(o) or "default", str(labels_of(o).get(SERVICE_NAME)))
        for o in objs if o.get("kind") == "EndpointSlice" and labels_of(o).get(SERVICE_NAME))
    options = ControllerOptions(deterministic_names=True, orphan_gc=False,
                                observed_slices=observed_slices)
    manager = ControllerManager(registry, config, options=options,
                                controllers=OFFLINE_CONTROLLERS)
    kubelet = OfflineKubelet(registry, observed, informers=manager.informers)
    replicas = [int((o.get("spec") or {}).get("replicas", 1)) for o in objs
                if o.get("kind") == "StatefulSet"]
    await manager.converge(max_rounds=50 + max(replicas, default=0),
                           extra_steps=[kubelet.sync])
    notes += manager.errors
    pending = [p for p in (await registry.list("pods"))[0]
               if not (p.get("spec") or {}).get("nodeName")]
    if pending:
        why = ((condition(pending[0], "PodScheduled") or {}).get("message")) or "no node fits"
        notes.append(f"{len(pending)} pod(s) could not be scheduled, e.g. "
                     f"{namespace_of(pending[0])}/{name_of(pending[0])}: {why}")
    state: dict[str, list[Obj]] = {}
    for plural in BY_PLURAL:
        items, _ = await registry.list(plural)
        state[plural] = items
    return ClusterState(state, notes, config)


async def _admit(registry: Registry, obj: Obj, problems: list[str]) -> None:
    plural = BY_KIND[str(obj["kind"])].plural
    try:
        out = await registry.create(plural, obj)
    except AlreadyExists:
        try:  # the same object twice in the input: the last one wins, as with apply
            stored = await registry.get(plural, namespace_of(obj), name_of(obj))
            out = await registry.update(plural, {**obj, "metadata": {
                **obj["metadata"], "resourceVersion": stored["metadata"]["resourceVersion"]}})
        except StoreError as e:
            problems.append(f"{kind_of(obj).kind} {namespace_of(obj)}/{name_of(obj)}: {e}")
            return
    except StoreError as e:
        problems.append(f"{kind_of(obj).kind} {namespace_of(obj)}/{name_of(obj)}: {e}")
        return
    if "status" in obj and out.get("status") != obj["status"]:
        await registry.update_status(plural, {**out, "status": obj["status"]})
