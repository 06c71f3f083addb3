"""Discovery: what the server serves, in the documents kubectl and client-go read first.

Legacy discovery: ``/api`` (APIVersions), ``/apis`` (APIGroupList),
``/apis/{group}`` (APIGroup), ``/api/v1`` and ``/apis/{group}/{version}``
(APIResourceList). Aggregated discovery (``apidiscovery.k8s.io/v2``, what
kubectl 1.30+ asks for first on ``/api`` and ``/apis``): the same facts in one
APIGroupDiscoveryList per prefix, so a client needs two requests instead of one
per group. ``/version`` says which Kubernetes API level podnet speaks.

Everything is derived from ``podnet.api.kinds.KINDS``.
"""

from __future__ import annotations

import platform
from typing import Any

from podnet.api.kinds import KINDS, Kind
from podnet.apiserver import mediatypes
from podnet.store.base import NotFound

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
STATUS_VERBS = ["get", "patch", "update"]
# `kubectl get all` lists the resources in the "all" category
ALL_CATEGORY = frozenset({"pods", "services", "deployments", "replicasets", "statefulsets",
                          "daemonsets"})
KUBE_VERSION = ("1", "32")
DISCOVERY_GROUP = "apidiscovery.k8s.io"
DISCOVERY_VERSIONS = ("v2", "v2beta1")


def not_found() -> NotFound:
    return NotFound("the server could not find the requested resource")


def version() -> dict[str, Any]:
    major, minor = KUBE_VERSION
    return {"major": major, "minor": minor, "gitVersion": f"v{major}.{minor}.0+podnet",
            "gitCommit": "", "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z",
            "goVersion": f"python{platform.python_version()}",
            "compiler": f"python{platform.python_version()}",
            "platform": f"linux/{platform.machine()}"}


def group_versions() -> dict[str, list[str]]:
    """Every named group and its versions, preferred first (the core group "" is left out)."""
    out: dict[str, list[str]] = {}
    for k in KINDS:
        if k.group and k.version not in out.setdefault(k.group, []):
            out[k.group].append(k.version)
    return out


def _kinds(group: str, version: str) -> list[Kind]:
    return [k for k in KINDS if k.group == group and k.version == version]


def _categories(k: Kind) -> list[str]:
    return ["all"] if k.plural in ALL_CATEGORY else []


# -- legacy --

def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": vs,
            "preferredVersion": vs[0]}


def resource_list(group: str, version: str) -> dict[str, Any]:
    """The APIResourceList of one group/version (NotFound when podnet serves none of it)."""
    resources: list[dict[str, Any]] = []
    for k in _kinds(group, version):
        res: dict[str, Any] = {"name": k.plural, "singularName": k.singular,
                               "namespaced": k.namespaced, "kind": k.kind, "verbs": VERBS,
                               "shortNames": list(k.short_names)}
        if _categories(k):
            res["categories"] = _categories(k)
        resources.append(res)
        resources.append({"name": f"{k.plural}/status", "singularName": "",
                          "namespaced": k.namespaced, "kind": k.kind, "verbs": STATUS_VERBS})
    if not resources:
        raise not_found()
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}


def legacy(path: str) -> dict[str, Any] | None:
    """The legacy discovery document at ``path``; None when ``path`` is not a discovery path."""
    parts = [p for p in path.split("/") if p]
    if parts == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}
    if parts == ["apis"]:
        groups = [_group_doc(g, vs) for g, vs in sorted(group_versions().items())]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    if len(parts) == 2 and parts[0] == "apis":
        versions = group_versions().get(parts[1])
        if not versions:
            raise not_found()
        return _group_doc(parts[1], versions)
    if parts == ["api", "v1"]:
        return resource_list("", "v1")
    if len(parts) == 3 and parts[0] == "apis":
        return resource_list(parts[1], parts[2])
    if parts == ["version"]:
        return version()
    return None


# -- aggregated (apidiscovery.k8s.io/v2) --

def _resource_discovery(k: Kind) -> dict[str, Any]:
    kind_ref = {"group": k.group, "version": k.version, "kind": k.kind}
    out: dict[str, Any] = {
        "resource": k.plural, "responseKind": kind_ref,
        "scope": "Namespaced" if k.namespaced else "Cluster",
        "singularResource": k.singular, "verbs": VERBS,
        "subresources": [{"subresource": "status", "responseKind": kind_ref,
                          "verbs": STATUS_VERBS}],
    }
    if k.short_names:
        out["shortNames"] = list(k.short_names)
    if _categories(k):
        out["categories"] = _categories(k)
    return out


def _group_discovery(group: str, versions: list[str]) -> dict[str, Any]:
    return {"metadata": {"name": group, "creationTimestamp": None},
            "versions": [{"version": v, "freshness": "Current",
                          "resources": [_resource_discovery(k) for k in _kinds(group, v)]}
                         for v in versions]}


def aggregated(path: str, version: str) -> dict[str, Any] | None:
    """The APIGroupDiscoveryList of ``/api`` (the core group) or ``/apis`` (every named
    group); None for other paths."""
    parts = [p for p in path.split("/") if p]
    if parts == ["api"]:
        items = [_group_discovery("", ["v1"])]
    elif parts == ["apis"]:
        items = [_group_discovery(g, vs) for g, vs in sorted(group_versions().items())]
    else:
        return None
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"{DISCOVERY_GROUP}/{version}",
            "metadata": {}, "items": items}


def negotiate(path: str, accept: str | None) -> tuple[dict[str, Any], str] | None:
    """The discovery answer for ``path`` and its Content-Type: aggregated when the client
    prefers it and the path has it, legacy otherwise; None for non-discovery paths."""
    v = mediatypes.wants(accept, "APIGroupDiscoveryList", DISCOVERY_GROUP, DISCOVERY_VERSIONS)
    if v is not None:
        doc = aggregated(path, v)
        if doc is not None:
            return doc, mediatypes.content_type("APIGroupDiscoveryList", DISCOVERY_GROUP, v)
    legacy_doc = legacy(path)
    if legacy_doc is None:
        return None
    return legacy_doc, "application/json"
