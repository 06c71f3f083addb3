"""A minimal OpenAPI v3 description: enough for ``kubectl apply``'s validation step.

kubectl (``--validate=strict``, its default) reads ``/openapi/v3`` and the
document of the object's group/version to learn whether the server validates
fields itself: a PATCH operation tagged with the kind's
``x-kubernetes-group-version-kind`` that takes a ``fieldValidation`` query
parameter. When it finds one, it leaves validation to the server (podnet's
admission) instead of downloading the full protobuf OpenAPI v2 schema, which
podnet does not serve.

Served: ``/openapi/v3`` (the index: one entry per group/version with a content
hash) and ``/openapi/v3/api/v1``, ``/openapi/v3/apis/{group}/{version}``: one
path per resource with its verbs, parameters and GVK, and no schemas (so
``kubectl explain`` has nothing to show). ``/openapi/v2`` answers 404.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from podnet.api.kinds import KINDS, Kind
from podnet.apiserver.discovery import KUBE_VERSION, group_versions, not_found

QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _param(name: str, where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path",
            "schema": {"type": "string"}}


def _op(k: Kind, action: str, params: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"operationId": f"{action}{k.kind}",
            "parameters": [_param(p) for p in params],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": k.group, "version": k.version,
                                                "kind": k.kind}}


def _paths(k: Kind) -> dict[str, Any]:
    scope = "/namespaces/{namespace}" if k.namespaced else ""
    base = f"/{_gv_path(k.group, k.version)}{scope}/{k.plural}"
    scope_params = [_param("namespace", "path")] if k.namespaced else []
    item_params = [*scope_params, _param("name", "path")]
    return {
        base: {"get": _op(k, "list"), "post": _op(k, "post", QUERY_PARAMS),
               "delete": _op(k, "deletecollection", ("dryRun",)), "parameters": scope_params},
        f"{base}/{{name}}": {"get": _op(k, "get"), "put": _op(k, "put", QUERY_PARAMS),
                             "patch": _op(k, "patch", (*QUERY_PARAMS, "force")),
                             "delete": _op(k, "delete", ("dryRun",)),
                             "parameters": item_params},
        f"{base}/{{name}}/status": {"get": _op(k, "get"), "put": _op(k, "put", QUERY_PARAMS),
                                    "patch": _op(k, "patch", QUERY_PARAMS),
                                    "parameters": item_params},
    }


@cache
def document(group: str, version: str) -> bytes:
    """The OpenAPI 3.0 document of one group/version, as JSON bytes."""
    kinds = [k for k in KINDS if k.group == group and k.version == version]
    if not kinds:
        raise not_found()
    paths: dict[str, Any] = {}
    for k in kinds:
        paths.update(_paths(k))
    major, minor = KUBE_VERSION
    doc = {"openapi": "3.0.0",
           "info": {"title": "Kubernetes (podnet)", "version": f"v{major}.{minor}.0"},
           "paths": paths, "components": {"schemas": {}}}
    return json.dumps(doc, separators=(",", ":")).encode()


def _all_gvs() -> list[tuple[str, str]]:
    return [("", "v1"), *[(g, v) for g, vs in sorted(group_versions().items()) for v in vs]]


@cache
def index() -> bytes:
    paths = {}
    for g, v in _all_gvs():
        digest = hashlib.sha512(document(g, v)).hexdigest()[:64].upper()
        paths[_gv_path(g, v)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={digest}"}
    return json.dumps({"paths": paths}, separators=(",", ":")).encode()


def answer(path: str) -> bytes | None:
    """The OpenAPI v3 body at ``path``; None when ``path`` is not under /openapi/v3;
    NotFound for anything else below it."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] != ["openapi", "v3"]:
        return None
    rest = parts[2:]
    if not rest:
        return index()
    if rest[0] == "api" and len(rest) == 2:
        return document("", rest[1])
    if rest[0] == "apis" and len(rest) == 3:
        return document(rest[1], rest[2])
    raise not_found()
