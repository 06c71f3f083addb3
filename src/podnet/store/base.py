"""The Store protocol every backend implements, its errors and shared metadata rules.

Contract (checked by tests/unit/test_store_contract.py on every backend):

* ``resource`` is the REST plural (``pods``, ``services``, ``endpointslices``);
  ``namespace`` is ``""`` for cluster-scoped objects. In ``list``/``watch``
  ``namespace=None`` means all namespaces.
* ``create`` fills ``metadata.uid``, ``creationTimestamp``, ``generation`` (1)
  and ``resourceVersion``; an existing key raises ``AlreadyExists``.
* ``update`` replaces the object. If the incoming ``metadata.resourceVersion`` is
  set and differs from the stored one it raises ``Conflict``; unset means
  "last write wins". ``generation`` is bumped when anything but status and
  metadata changed. ``uid`` and ``creationTimestamp`` are preserved.
  ``update_status`` replaces only ``status`` (the status subresource).
* ``delete`` returns the last state of the object; with ``resource_version`` set
  and stale it raises ``Conflict``. Missing raises ``NotFound``.
* every write is durable when the call returns (SQLite: committed; etcd: acked).
* ``watch(resource, namespace, resource_version)`` yields ``WatchEvent`` for every
  change with a resourceVersion greater than the given one, in order. With
  ``resource_version`` None or "0" it starts from now (no replay); a version
  older than the retained history raises ``Gone`` before yielding anything.
* resourceVersions are decimal strings of one global counter shared by all
  resources (like an etcd revision), so they compare as integers.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from podnet.api.kinds import Obj, rfc3339
from podnet.api.selectors import Selector

EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]


class StoreError(Exception):
    """Base of all store errors. ``code`` is the HTTP status the API server answers."""

    code = 500
    reason = "InternalError"


class NotFound(StoreError):
    code = 404
    reason = "NotFound"


class AlreadyExists(StoreError):
    code = 409
    reason = "AlreadyExists"


class Conflict(StoreError):
    code = 409
    reason = "Conflict"


class Gone(StoreError):
    """The requested resourceVersion is older than the store's retained history (410)."""

    code = 410
    reason = "Expired"


class BadRequest(StoreError):
    """The request itself is malformed (e.g. a resourceVersion that is not a number)."""

    code = 400
    reason = "BadRequest"


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    object: Obj = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "object": self.object}


@dataclass(frozen=True)
class RawWatchEvent:
    """A watch event as a store logged it: the object's stored JSON text, not decoded.

    What a store's ``watch_raw`` yields (where it has one), so a server streaming the
    same event to many watchers need not decode and re-encode it for each of them.
    """

    type: EventType
    resource_version: int
    raw: str

    def decode(self) -> WatchEvent:
        import json

        return WatchEvent(self.type, json.loads(self.raw))


class Store(Protocol):
    """What every backend (and the HTTP client) provides. All methods are async."""

    async def get(self, resource: str, namespace: str, name: str) -> Obj: ...

    async def list(
        self,
        resource: str,
        namespace: str | None = None,
        selector: Selector | None = None,
    ) -> tuple[list[Obj], str]:
        """Objects sorted by (namespace, name), and the store's current resourceVersion."""
        ...

    async def create(self, resource: str, obj: Obj) -> Obj: ...

    async def update(self, resource: str, obj: Obj) -> Obj: ...

    async def update_status(self, resource: str, obj: Obj) -> Obj: ...

    async def delete(
        self, resource: str, namespace: str, name: str, resource_version: str | None = None
    ) -> Obj: ...

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        resource_version: str | None = None,
        selector: Selector | None = None,
    ) -> AsyncIterator[WatchEvent]: ...

    async def close(self) -> None: ...


# ---- shared metadata rules, used by every backend so they behave alike ----


def key(resource: str, namespace: str, name: str) -> str:
    """The etcd-style key ``/registry/<resource>/<namespace>/<name>`` (no ns part when "")."""
    if namespace:
        return f"/registry/{resource}/{namespace}/{name}"
    return f"/registry/{resource}/{name}"


def now_rfc3339() -> str:
    return rfc3339(time.time())


def parse_resource_version(resource_version: str | None) -> int | None:
    """The integer of a watch/list ``resourceVersion``; None for unset, "" or "0" ("from now")."""
    if resource_version in (None, "", "0"):
        return None
    try:
        value = int(str(resource_version))
    except ValueError:
        raise BadRequest(f"invalid resourceVersion {resource_version!r}") from None
    if value < 0:
        raise BadRequest(f"invalid resourceVersion {resource_version!r}")
    return value


def obj_namespace(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def obj_name(obj: Obj) -> str:
    name = (obj.get("metadata") or {}).get("name")
    if not name:
        raise StoreError("metadata.name is required")
    return str(name)


def prepare_create(obj: Obj, rv: int) -> Obj:
    """A copy of ``obj`` with server-set metadata filled for its first version."""
    out = copy.deepcopy(obj)
    m = out.setdefault("metadata", {})
    m["uid"] = m.get("uid") or str(uuid.uuid4())
    m["creationTimestamp"] = m.get("creationTimestamp") or now_rfc3339()
    m["generation"] = 1
    m["resourceVersion"] = str(rv)
    return out


def _spec_part(obj: Obj) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def check_version(incoming: Obj, stored: Obj) -> None:
    want = (incoming.get("metadata") or {}).get("resourceVersion")
    have = (stored.get("metadata") or {}).get("resourceVersion")
    if want and str(want) != str(have):
        raise Conflict(
            f"Operation cannot be fulfilled on {obj_name(stored)}: the object has been "
            "modified; please apply your changes to the latest version and try again"
        )


def prepare_update(incoming: Obj, stored: Obj, rv: int) -> Obj:
    """Check the version, then a copy of ``incoming`` carrying the stored identity."""
    check_version(incoming, stored)
    out = copy.deepcopy(incoming)
    m = out.setdefault("metadata", {})
    sm = stored.get("metadata") or {}
    m["uid"] = sm.get("uid")
    m["creationTimestamp"] = sm.get("creationTimestamp")
    gen = int(sm.get("generation") or 1)
    m["generation"] = gen + 1 if _spec_part(out) != _spec_part(stored) else gen
    m["resourceVersion"] = str(rv)
    return out


def prepare_status_update(incoming: Obj, stored: Obj, rv: int) -> Obj:
    """The stored object with only ``status`` taken from ``incoming``."""
    check_version(incoming, stored)
    out = copy.deepcopy(stored)
    if "status" in incoming:
        out["status"] = copy.deepcopy(incoming["status"])
    else:
        out.pop("status", None)
    out["metadata"]["resourceVersion"] = str(rv)
    return out


def matches(obj: Obj, namespace: str | None, selector: Selector | None) -> bool:
    if namespace is not None and obj_namespace(obj) != namespace:
        return False
    return selector is None or selector.matches((obj.get("metadata") or {}).get("labels"))
