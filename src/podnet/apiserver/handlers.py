"""The REST verbs: one HTTP request on a resource path -> one Registry call -> JSON.

GET (get, list, watch; a meta.k8s.io Table when the client asks for one),
POST (create), PUT (update, ``/status``), PATCH (JSON merge patch or strategic
merge patch), DELETE (one object or a collection by label selector).
``dryRun=All`` runs admission and writes nothing. Errors are raised as store/API
errors; the server's middleware turns them into Kubernetes Status answers.
Protobuf and CBOR bodies are answered 415: podnet speaks JSON (and YAML).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import yaml
from aiohttp import web

from podnet.api.kinds import Kind, Obj, meta
from podnet.api.selectors import Selector, SelectorError, parse
from podnet.apiserver import table
from podnet.apiserver.errors import MethodNotAllowed, UnsupportedMediaType
from podnet.apiserver.fields import parse_field_selector
from podnet.apiserver.registry import Registry
from podnet.apiserver.routes import Target
from podnet.apiserver.watchstream import watch_response
from podnet.store.base import BadRequest

STRATEGIC = "application/strategic-merge-patch+json"
MERGE_PATCH_TYPES = ("application/merge-patch+json", STRATEGIC)
BINARY_TYPES = ("application/vnd.kubernetes.protobuf", "application/cbor")


BIG_LIST = 500  # lists longer than this are encoded off the event loop


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(obj, separators=(",", ":")), status=status,
                        content_type="application/json")


async def _json_list(doc: dict[str, Any]) -> web.Response:
    if len(doc["items"]) <= BIG_LIST:
        return _json(doc)
    body = await asyncio.to_thread(json.dumps, doc, separators=(",", ":"))
    return web.Response(body=body, content_type="application/json")


async def _list(request: web.Request, registry: Registry, target: Target) -> tuple[list[Obj], str]:
    items, rv = await registry.list(target.kind.plural, target.namespace, _selector(request))
    fields = parse_field_selector(request.query.get("fieldSelector"))
    return ([o for o in items if fields(o)] if fields else items), rv


def _selector(request: web.Request) -> Selector | None:
    text = request.query.get("labelSelector")
    if not text:
        return None
    try:
        return parse(text)
    except SelectorError as e:
        raise BadRequest(f"unable to parse requirement: {e}") from None


def _dry_run(request: web.Request, options: dict[str, Any] | None = None) -> bool:
    values = request.query.getall("dryRun", [])
    values += list((options or {}).get("dryRun") or [])
    for v in values:
        if v != "All":
            raise BadRequest(f'unsupported dryRun value "{v}": only "All" is supported')
    return bool(values)


async def _body(request: web.Request, required: bool = True) -> Any:
    if request.content_type in BINARY_TYPES:
        # client-go (kubectl create, scale, ...) retries with JSON after a 415
        raise UnsupportedMediaType(
            f'the body of the request was in an unknown format - accepted media types include: '
            f'application/json, application/yaml (not "{request.content_type}")')
    raw = await request.read()
    if not raw.strip():
        if required:
            raise BadRequest("the request body is empty")
        return None
    try:
        if "yaml" in request.content_type:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise BadRequest(f"the request body is not valid JSON: {e}") from None


def _object_body(body: Any, target: Target) -> Obj:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    m = meta(body)
    if target.kind.namespaced:
        if m.get("namespace") and m["namespace"] != target.namespace:
            raise BadRequest("the namespace of the provided object does not match the "
                             "namespace sent on the request")
        m["namespace"] = target.namespace
    if target.name:
        if m.get("name") and m["name"] != target.name:
            raise BadRequest(f"the name of the object ({m['name']}) does not match the name "
                             f"on the URL ({target.name})")
        m["name"] = target.name
    return body


def _list_doc(kind: Kind, items: list[Obj], rv: str) -> dict[str, Any]:
    for o in items:
        o.setdefault("kind", kind.kind)
        o.setdefault("apiVersion", kind.api_version)
    return {"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": rv}, "items": items}


def _table(request: web.Request, kind: Kind, items: list[Obj], rv: str,
           version: str) -> web.Response:
    doc = table.table(kind, items, rv, version, table.include_object(
        request.query.get("includeObject")))
    return web.Response(body=json.dumps(doc, separators=(",", ":")),
                        headers={"Content-Type": table.content_type(version)})


async def handle(request: web.Request, registry: Registry, target: Target,
                 bookmark_interval: float) -> web.StreamResponse:
    kind, ns, name, method = target.kind, target.namespace, target.name, request.method
    plural = kind.plural
    as_table = table.wanted(request.headers.get("Accept")) if method == "GET" else None
    if target.is_collection:
        if method == "GET":
            if request.query.get("watch", "").lower() in ("true", "1"):
                fields = parse_field_selector(request.query.get("fieldSelector"))
                render = None if as_table is None else table.watch_renderer(
                    kind, as_table, table.include_object(request.query.get("includeObject")))
                return await watch_response(request, registry, kind, ns, _selector(request),
                                            bookmark_interval, fields, render)
            items, rv = await _list(request, registry, target)
            if as_table is not None:
                return _table(request, kind, items, rv, as_table)
            return await _json_list(_list_doc(kind, items, rv))
        if method == "POST" and (ns is not None or not kind.namespaced):
            obj = _object_body(await _body(request), target)
            return _json(await registry.create(plural, obj, dry_run=_dry_run(request)), 201)
        if method == "DELETE":
            return await _delete_collection(request, registry, target)
        raise MethodNotAllowed(f"the server does not allow this method on the requested "
                               f"resource ({method} {request.path})")
    assert ns is not None
    status = target.subresource == "status"
    if method == "GET":
        obj = await registry.get(plural, ns, name)
        if as_table is not None and not status:
            rv = str(meta(obj).get("resourceVersion", ""))
            return _table(request, kind, [obj], rv, as_table)
        return _json(obj)
    if method == "PUT":
        obj = _object_body(await _body(request), target)
        dry = _dry_run(request)
        if status:
            return _json(await registry.update_status(plural, obj, dry_run=dry))
        return _json(await registry.update(plural, obj, dry_run=dry))
    if method == "PATCH":
        if request.content_type not in MERGE_PATCH_TYPES:
            raise UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(MERGE_PATCH_TYPES)}")
        patch = await _body(request)
        if not isinstance(patch, dict):
            raise BadRequest("a merge patch must be a JSON object")
        out = await registry.patch(plural, ns, name, patch, dry_run=_dry_run(request),
                                   status=status, strategic=request.content_type == STRATEGIC)
        return _json(out)
    if method == "DELETE" and not status:
        options = await _body(request, required=False) or {}
        if not isinstance(options, dict):
            raise BadRequest("DeleteOptions must be a JSON object")
        grace = options.get("gracePeriodSeconds", request.query.get("gracePeriodSeconds"))
        precondition = (options.get("preconditions") or {}).get("resourceVersion")
        try:
            grace_int = None if grace is None else int(grace)
        except ValueError:
            raise BadRequest(f"invalid gracePeriodSeconds {grace!r}") from None
        out = await registry.delete(plural, ns, name, resource_version=precondition,
                                    grace_period_seconds=grace_int,
                                    dry_run=_dry_run(request, options))
        return _json(out)
    raise MethodNotAllowed(f"the server does not allow this method on the requested resource "
                           f"({method} {request.path})")


async def _delete_collection(request: web.Request, registry: Registry,
                             target: Target) -> web.Response:
    options = await _body(request, required=False) or {}
    grace = options.get("gracePeriodSeconds", request.query.get("gracePeriodSeconds"))
    dry = _dry_run(request, options)
    items, rv = await _list(request, registry, target)
    deleted = []
    for o in items:
        m = meta(o)
        deleted.append(await registry.delete(
            target.kind.plural, str(m.get("namespace") or ""), str(m["name"]),
            grace_period_seconds=None if grace is None else int(grace), dry_run=dry))
    return _json(_list_doc(target.kind, deleted, rv))
