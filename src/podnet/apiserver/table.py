"""Server-side printing: ``meta.k8s.io/v1`` Table answers, what ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...`` and
prints the columns the server chooses, so ``kubectl get pods`` against podnet
shows READY/STATUS/RESTARTS/AGE (and IP/NODE with ``-o wide``: columns with
priority 1) instead of NAME/AGE. The cells come from podnet.api.columns, the
same functions ``podnet get`` prints with. Each row carries the object as
PartialObjectMetadata (``includeObject=Metadata``, the default), the whole
object (``Object``) or nothing (``None``); kubectl reads labels and the
namespace from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from podnet.api.columns import COLUMNS, WIDE, age
from podnet.api.kinds import Kind, Obj
from podnet.apiserver import mediatypes
from podnet.store.base import BadRequest

GROUP = "meta.k8s.io"
VERSIONS = ("v1", "v1beta1")
INCLUDE = ("None", "Metadata", "Object")

Cell = Callable[[Obj], str]


def wanted(accept: str | None) -> str | None:
    """The Table version the client prefers (``v1``/``v1beta1``), or None for plain objects."""
    return mediatypes.wants(accept, "Table", GROUP, VERSIONS)


def content_type(version: str) -> str:
    return mediatypes.content_type("Table", GROUP, version)


def include_object(value: str | None) -> str:
    """The ``includeObject`` query parameter, checked; Metadata when absent."""
    if not value:
        return "Metadata"
    if value not in INCLUDE:
        raise BadRequest(f'includeObject: Unsupported value: "{value}": supported values: '
                         f'"{INCLUDE[0]}", "{INCLUDE[1]}", "{INCLUDE[2]}"')
    return value


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _columns(kind: Kind) -> list[tuple[str, Cell, int]]:
    cols: list[tuple[str, Cell, int]] = [("Name", _name, 0)]
    cols += [(title, fn, 0) for title, fn in COLUMNS.get(kind.plural, [])]
    cols.append(("Age", age, 0))
    cols += [(title, fn, 1) for title, fn in WIDE.get(kind.plural, [])]
    return cols


def column_definitions(kind: Kind) -> list[dict[str, Any]]:
    out = []
    for title, _fn, priority in _columns(kind):
        d: dict[str, Any] = {"name": title, "type": "string", "format": "", "priority": priority,
                             "description": f"{kind.kind} {title.lower()}"}
        if title == "Name":
            d["format"] = "name"
            d["description"] = "Name must be unique within a namespace."
        out.append(d)
    return out


def _row_object(kind: Kind, obj: Obj, include: str, version: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return {"kind": kind.kind, "apiVersion": kind.api_version, **obj}
    return {"kind": "PartialObjectMetadata", "apiVersion": f"{GROUP}/{version}",
            "metadata": obj.get("metadata") or {}}


def table(kind: Kind, objs: Sequence[Obj], resource_version: str, version: str = "v1",
          include: str = "Metadata", with_columns: bool = True) -> dict[str, Any]:
    """The Table of ``objs``; ``with_columns=False`` leaves the column definitions out
    (watch events after the first)."""
    cols = _columns(kind)
    rows = []
    for o in objs:
        row: dict[str, Any] = {"cells": [fn(o) for _t, fn, _p in cols]}
        ref = _row_object(kind, o, include, version)
        if ref is not None:
            row["object"] = ref
        rows.append(row)
    return {"kind": "Table", "apiVersion": f"{GROUP}/{version}",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": column_definitions(kind) if with_columns else [],
            "rows": rows}


def watch_renderer(kind: Kind, version: str, include: str) -> Callable[[Obj], Obj]:
    """A function turning each watched object into a one-row Table; the first carries the
    column definitions, as the Kubernetes API server does."""
    first = [True]

    def render(obj: Obj) -> Obj:
        rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
        out = table(kind, [obj], rv, version, include, with_columns=first[0])
        first[0] = False
        return out

    return render
