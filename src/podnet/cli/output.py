"""Render objects the way kubectl does: aligned tables (with ``-o wide``), YAML,
JSON and ``kind/name`` lines. Pure functions from objects to text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from podnet.api.columns import COLUMNS, WIDE, Column, age
from podnet.api.kinds import Kind, Obj

__all__ = ["COLUMNS", "WIDE", "Column", "age", "as_list", "names", "table", "to_json", "to_yaml",
           "with_type"]

Row = list[str]


def table(kind: Kind, objs: Sequence[Obj], wide: bool = False, all_namespaces: bool = False) -> str:
    """A kubectl-style table; empty string when there is nothing to show."""
    if not objs:
        return ""
    cols = [*COLUMNS.get(kind.plural, []), ("AGE", age)]
    if wide:
        cols += WIDE.get(kind.plural, [])
    header = (["NAMESPACE"] if all_namespaces else []) + ["NAME"] + [c[0] for c in cols]
    rows: list[Row] = [header]
    for o in objs:
        m = o.get("metadata") or {}
        row = ([str(m.get("namespace", ""))] if all_namespaces else []) + [str(m.get("name", ""))]
        rows.append(row + [fn(o) for _, fn in cols])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def with_type(kind: Kind, obj: Obj) -> Obj:
    out = {"apiVersion": kind.api_version, "kind": kind.kind}
    out.update(obj)
    return out


def as_list(kind: Kind, objs: Sequence[Obj]) -> Obj:
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": [with_type(kind, o) for o in objs]}


def to_yaml(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def to_json(doc: Any) -> str:
    return json.dumps(doc, indent=4)


def names(kind: Kind, objs: Sequence[Obj]) -> str:
    prefix = kind.singular if not kind.group else f"{kind.singular}.{kind.group}"
    return "\n".join(f"{prefix}/{(o.get('metadata') or {}).get('name', '')}" for o in objs)
