"""The EndpointSlice controller: Services with a selector -> EndpointSlices of their pods.

What goes in, as Kubernetes' controller does it:

* the pods of the Service's namespace that match its selector, have an IPv4
  ``status.podIP`` and are not Succeeded/Failed (terminating pods stay, marked);
* ports come from the Service ports; a named ``targetPort`` is resolved *per
  pod* from its containers' ``containerPorts`` (same name and protocol). Pods
  are grouped by the port set they resolve to, one group of slices per set, so
  two pods that call port "http" 8080 and 9090 end up in different slices; a
  pod lacking the name is left out of that port;
* conditions: ``serving`` = pod Ready, ``terminating`` = deletionTimestamp set,
  ``ready`` = serving and not terminating, or ``publishNotReadyAddresses``;
* ``hostname`` when the pod sets ``hostname`` and its ``subdomain`` is the
  Service's name; ``nodeName``; ``targetRef`` to the pod; no zone.

Slices are named ``<service>-<5 chars>``, labelled ``kubernetes.io/service-name``
and ``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io``
(plus the Service's own labels), owned by the Service and hold at most 100
endpoints. Updates are minimal: an endpoint stays in the slice it is in, new
ones go first into slices that change anyway, and an unchanged slice is never
rewritten. A Service without endpoints gets one empty placeholder slice. Slices
of deleted Services, selector-less and ExternalName Services are removed;
slices someone else manages (other ``managed-by``) are never touched, nor
are the slices of Services listed in ``ControllerOptions.observed_slices``
(the offline pipeline's cluster dumps, whose slices are observed state).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from podnet.api.kinds import Obj, labels_of, name_of, namespace_of
from podnet.controllers.base import Controller
from podnet.controllers.podutil import (
    is_ready,
    is_terminal,
    is_terminating,
    owner_reference,
    pod_ip,
)
from podnet.store.base import NotFound, WatchEvent

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
HEADLESS = "service.kubernetes.io/headless"
MAX_ENDPOINTS = 100

PortKey = tuple[tuple[str, int, str, str], ...]


def resolve_target_port(pod: Obj, svc_port: dict[str, Any]) -> int | None:
    """The container port a Service port reaches on ``pod`` (None: the pod lacks the name)."""
    target = svc_port.get("targetPort")
    if target is None or target == "":
        return int(svc_port.get("port") or 0)
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    proto = svc_port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP") == proto:
                return int(p.get("containerPort") or 0)
    return None


def endpoint_ports(svc: Obj, pod: Obj) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for sp in (svc.get("spec") or {}).get("ports") or []:
        port = resolve_target_port(pod, sp)
        if port is None:
            continue
        ep: dict[str, Any] = {"name": sp.get("name") or "", "port": port,
                              "protocol": sp.get("protocol") or "TCP"}
        if sp.get("appProtocol"):
            ep["appProtocol"] = sp["appProtocol"]
        out.append(ep)
    return out


def port_key(ports: Iterable[dict[str, Any]] | None) -> PortKey:
    return tuple(sorted(
        (str(p.get("name") or ""), int(p.get("port") or 0), str(p.get("protocol") or "TCP"),
         str(p.get("appProtocol") or ""))
        for p in ports or []
    ))


def pod_endpoint(svc: Obj, pod: Obj) -> dict[str, Any]:
    spec = pod.get("spec") or {}
    serving = is_ready(pod)
    terminating = is_terminating(pod)
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    ep: dict[str, Any] = {
        "addresses": [pod_ip(pod)],
        "conditions": {"ready": publish or (serving and not terminating),
                       "serving": serving, "terminating": terminating},
    }
    if spec.get("hostname") and spec.get("subdomain") == name_of(svc):
        ep["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        ep["nodeName"] = spec["nodeName"]
    ep["targetRef"] = {"kind": "Pod", "namespace": namespace_of(pod), "name": name_of(pod),
                       "uid": (pod.get("metadata") or {}).get("uid", "")}
    return ep


def endpoint_key(ep: dict[str, Any]) -> str:
    ref = ep.get("targetRef") or {}
    return f"{ref.get('name', '')}/{','.join(ep.get('addresses') or [])}"


def _norm(ep: dict[str, Any]) -> tuple[Any, ...]:
    """What the controller owns in an endpoint (zone, hints and uids are ignored)."""
    c = ep.get("conditions") or {}
    ref = ep.get("targetRef") or {}
    return (tuple(ep.get("addresses") or ()), c.get("ready"), c.get("serving"),
            c.get("terminating"), ep.get("hostname") or "", ep.get("nodeName") or "",
            ref.get("kind", ""), ref.get("namespace", ""), ref.get("name", ""))


def slice_labels(svc: Obj) -> dict[str, str]:
    labels = {k: v for k, v in labels_of(svc).items() if k not in (SERVICE_NAME, MANAGED_BY)}
    labels[SERVICE_NAME] = name_of(svc)
    labels[MANAGED_BY] = CONTROLLER_NAME
    if (svc.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS] = ""
    return labels


class PodIndex:
    """Endpoint-eligible pods indexed by (namespace, label, value) for equality selectors."""

    def __init__(self, pods: Iterable[Obj]) -> None:
        self.pods: dict[tuple[str, str], Obj] = {}
        self.by_label: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
        for p in pods:
            ip = pod_ip(p)
            if not ip or ":" in ip or is_terminal(p):
                continue
            k = (namespace_of(p), name_of(p))
            self.pods[k] = p
            for lk, lv in labels_of(p).items():
                self.by_label.setdefault((k[0], lk, str(lv)), set()).add(k)

    def select(self, namespace: str, selector: dict[str, str]) -> list[Obj]:
        keys: set[tuple[str, str]] | None = None
        for lk, lv in sorted(selector.items()):
            found = self.by_label.get((namespace, lk, str(lv)), set())
            keys = set(found) if keys is None else keys & found
            if not keys:
                return []
        return [self.pods[k] for k in sorted(keys or ())]


class EndpointSliceController(Controller):
    name = "endpointslice"
    watches = ("services", "pods", "endpointslices")
    _in_slices: frozenset[str] = frozenset()  # uids the slices name, as of the last pass

    def wakes(self, resource: str, ev: WatchEvent) -> bool:
        """Only pods with an IP are endpoints, and a pod keeps its IP until it is gone: the
        events of a pod being created and bound (two of its three in a rollout) change no slice."""
        if resource != "pods" or ev.type == "DELETED":
            return True
        pod = ev.object
        return (bool(pod_ip(pod)) or is_terminating(pod)
                or (pod.get("metadata") or {}).get("uid") in self._in_slices)

    async def reconcile(self) -> int:
        try:
            return await self._reconcile()
        finally:  # the pods the slices name now (a pod event about one of them always wakes us)
            self._in_slices = frozenset(
                str((e.get("targetRef") or {}).get("uid"))
                for s in self.objects("endpointslices") for e in s.get("endpoints") or [])

    async def _reconcile(self) -> int:
        start = self.writes
        index = PodIndex(self.objects("pods"))
        managed: dict[tuple[str, str], list[Obj]] = {}
        for s in self.objects("endpointslices"):
            labels = labels_of(s)
            if labels.get(MANAGED_BY) == CONTROLLER_NAME and labels.get(SERVICE_NAME):
                managed.setdefault((namespace_of(s), labels[SERVICE_NAME]), []).append(s)
        live: set[tuple[str, str]] = set()
        for svc in self.objects("services"):
            spec = svc.get("spec") or {}
            if not spec.get("selector") or spec.get("type") == "ExternalName":
                continue
            key = (namespace_of(svc), name_of(svc))
            live.add(key)
            if key in self.options.observed_slices:
                continue
            pods = index.select(key[0], {str(k): str(v) for k, v in spec["selector"].items()})
            await self.guard(f"service {key[0]}/{key[1]}",
                             self._sync_service(svc, pods, managed.get(key, [])))
        for key, slices in sorted(managed.items()):
            if key not in live and key not in self.options.observed_slices:
                await self.guard(f"slices of {key[0]}/{key[1]}", self._drop(key, slices))
        return self.writes - start

    async def _drop(self, key: tuple[str, str], slices: list[Obj]) -> None:
        svc = self.cached("services", *key)
        if svc is None:  # not cached: make sure it is really gone (the cache may lag)
            try:
                svc = await self.store.get("services", *key)
            except NotFound:
                svc = None
        spec = (svc or {}).get("spec") or {}
        if svc is not None and spec.get("selector") and spec.get("type") != "ExternalName":
            return
        for s in slices:
            await self.delete("endpointslices", s)

    async def _sync_service(self, svc: Obj, pods: list[Obj], existing: list[Obj]) -> None:
        desired: dict[PortKey, dict[str, dict[str, Any]]] = {}
        ports_of: dict[PortKey, list[dict[str, Any]]] = {}
        for pod in pods:
            ports = endpoint_ports(svc, pod)
            pk = port_key(ports)
            ports_of[pk] = ports
            ep = pod_endpoint(svc, pod)
            desired.setdefault(pk, {})[endpoint_key(ep)] = ep
        by_pk: dict[PortKey, list[Obj]] = {}
        for s in sorted(existing, key=name_of):
            by_pk.setdefault(port_key(s.get("ports")), []).append(s)
        if not desired:  # one empty placeholder slice, like Kubernetes
            desired[()] = {}
            ports_of[()] = []
        for pk, eps in sorted(desired.items()):
            await self._sync_group(svc, ports_of[pk], eps, by_pk.pop(pk, []))
        for slices in by_pk.values():
            for s in slices:
                await self.delete("endpointslices", s)

    async def _sync_group(self, svc: Obj, ports: list[dict[str, Any]],
                          eps: dict[str, dict[str, Any]], slices: list[Obj]) -> None:
        placed: set[str] = set()
        plan: list[tuple[Obj, list[dict[str, Any]]]] = []
        for s in slices:
            kept: list[dict[str, Any]] = []
            for old in s.get("endpoints") or []:
                k = endpoint_key(old)
                if k in eps and k not in placed and len(kept) < MAX_ENDPOINTS:
                    placed.add(k)
                    kept.append(eps[k])
            plan.append((s, kept))
        rest = [eps[k] for k in sorted(eps) if k not in placed]
        # New endpoints go first into slices that change anyway, then into any with room.
        order = sorted(range(len(plan)), key=lambda i: not self._changed(svc, ports, *plan[i]))
        for i in order:
            s, kept = plan[i]
            while rest and len(kept) < MAX_ENDPOINTS:
                kept.append(rest.pop(0))
        for s, kept in plan:
            if not kept and (eps or s is not plan[0][0]):
                await self.delete("endpointslices", s)
            elif self._changed(svc, ports, s, kept):
                await self.update("endpointslices", self._render(svc, ports, kept, s))
        while rest:
            chunk, rest = rest[:MAX_ENDPOINTS], rest[MAX_ENDPOINTS:]
            obj = self._render(svc, ports, chunk, None)
            seed = f"{namespace_of(svc)}/{name_of(svc)}/{port_key(ports)}/{endpoint_key(chunk[0])}"
            await self.create_named("endpointslices", obj, name_of(svc)[:57] + "-", seed)
        if not eps and not slices:
            obj = self._render(svc, ports, [], None)
            seed = f"{namespace_of(svc)}/{name_of(svc)}/placeholder"
            await self.create_named("endpointslices", obj, name_of(svc)[:57] + "-", seed)

    def _changed(self, svc: Obj, ports: list[dict[str, Any]], s: Obj,
                 eps: list[dict[str, Any]]) -> bool:
        have = sorted(_norm(e) for e in s.get("endpoints") or [])
        if have != sorted(_norm(e) for e in eps):
            return True
        if port_key(s.get("ports")) != port_key(ports) or s.get("addressType") != "IPv4":
            return True
        m = s.get("metadata") or {}
        uid = (svc.get("metadata") or {}).get("uid")
        owners = [r.get("uid") for r in m.get("ownerReferences") or []]
        return (m.get("labels") or {}) != slice_labels(svc) or uid not in owners

    def _render(self, svc: Obj, ports: list[dict[str, Any]], eps: list[dict[str, Any]],
                old: Obj | None) -> Obj:
        obj: Obj = copy.deepcopy(old) if old is not None else {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": namespace_of(svc)},
        }
        m = obj["metadata"]
        m["labels"] = slice_labels(svc)
        m["ownerReferences"] = [owner_reference(svc)]
        obj["addressType"] = "IPv4"
        obj["endpoints"] = sorted(copy.deepcopy(eps), key=endpoint_key)
        obj["ports"] = copy.deepcopy(ports)
        return obj
