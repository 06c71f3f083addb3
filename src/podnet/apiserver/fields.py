"""Field selectors (``?fieldSelector=spec.nodeName=node-1,metadata.name!=x``).

Kubernetes supports a few fields per kind; podnet accepts any dotted path into
the object with ``=``, ``==`` and ``!=`` (a missing field compares as ""), which
covers what kubectl and node agents ask for: ``metadata.name``,
``metadata.namespace``, ``spec.nodeName``, ``status.phase``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from podnet.api.kinds import Obj
from podnet.store.base import BadRequest

FieldSelector = Callable[[Obj], bool]


def _value(obj: Obj, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None) -> FieldSelector | None:
    """A predicate for ``text``; None when empty; BadRequest when it does not parse."""
    if not text or not text.strip():
        return None
    terms: list[tuple[str, bool, str]] = []
    for raw in text.split(","):
        term = raw.strip()
        op = next((o for o in ("!=", "==", "=") if o in term), None)
        path, _, value = term.partition(op or "=")
        if op is None or not path.strip():
            raise BadRequest(f'invalid field selector "{text}": cannot parse "{term}"')
        terms.append((path.strip(), op != "!=", value.strip()))

    def matches(obj: Obj) -> bool:
        return all((_value(obj, path) == value) == equal for path, equal, value in terms)

    return matches
