"""Objects for the zone when there is no API server: manifests and dumps.

``load_manifests(paths)`` reads YAML/JSON files or directories (multi-document,
``kind: List`` expanded). ``with_endpoints(objects)`` adds the EndpointSlices a
cluster would have for Services that have a selector but no slice in the input,
built by the EndpointSlice controller's own per-pod rules
(``podnet.controllers.endpointslice``), so a dump with Pods and Services but
without slices answers as the live cluster would.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from podnet.api.kinds import Obj, name_of, namespace_of
from podnet.controllers.endpointslice import PodIndex, endpoint_ports, pod_endpoint, port_key
from podnet.dns.zone import SERVICE_NAME_LABEL

SUFFIXES = (".yaml", ".yml", ".json")


def _files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES))
        else:
            out.append(p)
    return out


def load_manifests(paths: Iterable[str | Path]) -> list[Obj]:
    """Every object in the given files and directories, ``List`` items expanded."""
    objs: list[Obj] = []
    for f in _files(paths):
        for doc in yaml.safe_load_all(f.read_text()):
            if not isinstance(doc, dict):
                continue
            if str(doc.get("kind", "")).endswith("List") and "items" in doc:
                objs.extend(o for o in doc.get("items") or [] if isinstance(o, dict))
            else:
                objs.append(doc)
    for o in objs:
        md = o.setdefault("metadata", {})
        if o.get("kind") not in ("Namespace", "Node") and not md.get("namespace"):
            md["namespace"] = "default"
    return objs


def with_endpoints(objects: list[Obj]) -> list[Obj]:
    """``objects`` plus derived EndpointSlices for selector Services that have none."""
    has_slice = {(namespace_of(o), ((o.get("metadata") or {}).get("labels") or {})
                  .get(SERVICE_NAME_LABEL, "")) for o in objects if o.get("kind") == "EndpointSlice"}
    pods = PodIndex(o for o in objects if o.get("kind") == "Pod")
    derived: list[Obj] = []
    for svc in objects:
        spec = svc.get("spec") or {}
        if svc.get("kind") != "Service" or spec.get("type") == "ExternalName":
            continue
        ns, name = namespace_of(svc), name_of(svc)
        if not spec.get("selector") or (ns, name) in has_slice:
            continue
        groups: dict[tuple[object, ...], Obj] = {}
        for pod in pods.select(ns, dict(spec["selector"])):
            ports = endpoint_ports(svc, pod)
            key = port_key(ports)
            es = groups.get(key)
            if es is None:
                es = groups[key] = {
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": f"{name}-derived-{len(groups)}", "namespace": ns,
                                 "labels": {SERVICE_NAME_LABEL: name}},
                    "addressType": "IPv4", "endpoints": [], "ports": ports,
                }
            es["endpoints"].append(pod_endpoint(svc, pod))
        derived.extend(groups.values())
    return objects + derived
