"""The Registry: admission in front of a backend Store.

It implements the Store protocol (same method names, plus ``dry_run``, ``patch``
and ``apply``), so the HTTP server, the controllers and the offline pipeline all
write through the same rules the Kubernetes API server applies:

* create/update: defaulting, validation (``podnet.api``), the namespace must
  exist and not be terminating, Service ClusterIP/NodePort allocation
  (services.py), immutable fields (clusterIP, apps selectors);
* kinds with a status subresource ignore status in main-resource updates and
  change it only through ``update_status``; server-owned metadata
  (deletionTimestamp) cannot be set by clients; an update that changes nothing
  writes nothing (no new resourceVersion, no watch event);
* delete: pods and namespaces follow deletion.py (graceful termination,
  Terminating namespaces); everything else goes at once.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from podnet.api.config import ClusterConfig
from podnet.api.kinds import BY_PLURAL, Kind, Obj, meta
from podnet.api.selectors import Selector
from podnet.apiserver import admission, deletion
from podnet.apiserver import patch as patching
from podnet.apiserver.errors import Forbidden, Invalid, invalid_value
from podnet.apiserver.services import ServiceAllocations, drop_type_dependent_fields
from podnet.apiserver.strategic import apply as strategic_patch
from podnet.store.base import (
    AlreadyExists,
    BadRequest,
    Conflict,
    NotFound,
    RawWatchEvent,
    Store,
    StoreError,
    WatchEvent,
    check_version,
    prepare_create,
)

STATUS_SUBRESOURCE = frozenset(
    {"pods", "services", "nodes", "namespaces", "deployments", "replicasets", "statefulsets",
     "daemonsets", "ingresses"}
)
SERVER_OWNED_METADATA = ("deletionTimestamp", "deletionGracePeriodSeconds")
PATCH_RETRIES = 5


def kind_for(resource: str) -> Kind:
    k = BY_PLURAL.get(resource)
    if k is None:
        raise NotFound(f'the server could not find the requested resource "{resource}"')
    return k


def _same_except_version(a: Obj, b: Obj) -> bool:
    ma, mb = dict(a.get("metadata") or {}), dict(b.get("metadata") or {})
    ma.pop("resourceVersion", None)
    mb.pop("resourceVersion", None)
    return ma == mb and {k: v for k, v in a.items() if k != "metadata"} == {
        k: v for k, v in b.items() if k != "metadata"
    }


class Registry:
    """Admission in front of ``store``; implements the Store protocol."""

    def __init__(self, store: Store, config: ClusterConfig = ClusterConfig(),
                 rng: random.Random | None = None) -> None:
        self.store = store
        self.config = config
        self.services = ServiceAllocations(config, rng)
        self._service_lock = asyncio.Lock()

    # -- reads --
    async def get(self, resource: str, namespace: str, name: str) -> Obj:
        kind_for(resource)
        return await self.store.get(resource, namespace, name)

    async def list(self, resource: str, namespace: str | None = None,
                   selector: Selector | None = None) -> tuple[list[Obj], str]:
        kind_for(resource)
        return await self.store.list(resource, namespace, selector)

    def watch(self, resource: str, namespace: str | None = None,
              resource_version: str | None = None,
              selector: Selector | None = None) -> AsyncIterator[WatchEvent]:
        kind_for(resource)
        return self.store.watch(resource, namespace, resource_version, selector)

    def watch_raw(self, resource: str, namespace: str | None = None,
                  resource_version: str | None = None) -> AsyncIterator[RawWatchEvent] | None:
        """The store's undecoded event stream, or None when the store has none."""
        kind_for(resource)
        raw = getattr(self.store, "watch_raw", None)
        return None if raw is None else raw(resource, namespace, resource_version)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.store.close()

    # -- create --
    async def create(self, resource: str, obj: Obj, dry_run: bool = False) -> Obj:
        kind = kind_for(resource)
        obj = admission.prepare(kind, obj)
        await self._check_namespace(kind, obj)
        obj = admission.default_and_validate(kind, obj, self.config)
        admission.prepare_for_create(kind, obj)
        if resource == "services":
            async with self._service_lock:
                await self._load_services()
                self.services.admit(obj, None)
                if dry_run:
                    return await self._dry_run_create(resource, obj)
                out = await self._service_write(self.store.create(resource, obj))
                self.services.commit(out, None)
                return out
        if dry_run:
            return await self._dry_run_create(resource, obj)
        return await self.store.create(resource, obj)

    async def _dry_run_create(self, resource: str, obj: Obj) -> Obj:
        """What a create would store (no resourceVersion: nothing was written)."""
        m = meta(obj)
        try:
            await self.store.get(resource, str(m.get("namespace") or ""), str(m["name"]))
        except NotFound:
            out = prepare_create(obj, 0)
            meta(out).pop("resourceVersion", None)
            return out
        raise AlreadyExists(f'{resource} "{m["name"]}" already exists')

    async def _check_namespace(self, kind: Kind, obj: Obj) -> None:
        if not kind.namespaced:
            return
        ns = str(meta(obj).get("namespace") or "")
        try:
            namespace = await self.store.get("namespaces", "", ns)
        except NotFound:
            raise NotFound(f'namespaces "{ns}" not found') from None
        if meta(namespace).get("deletionTimestamp"):
            raise Forbidden(
                f'{kind.plural} "{meta(obj).get("name", "")}" is forbidden: unable to create new '
                f"content in namespace {ns} because it is being terminated"
            )

    async def _service_write(self, write: Awaitable[Obj]) -> Obj:
        """Run a Service write; when its outcome is unknown (cancelled, backend failure) the
        allocation table is reloaded from the store before the next Service admission."""
        try:
            return await write
        except StoreError:
            raise  # refused: nothing was written
        except BaseException:
            self.services.loaded = False
            raise

    async def _load_services(self) -> None:
        if not self.services.loaded:
            items, _ = await self.store.list("services")
            self.services.load(items)

    # -- update --
    async def update(self, resource: str, obj: Obj, dry_run: bool = False) -> Obj:
        kind = kind_for(resource)
        obj = admission.prepare(kind, obj)
        m = meta(obj)
        ns, name = str(m.get("namespace") or ""), str(m.get("name") or "")
        if resource == "services":
            async with self._service_lock:
                await self._load_services()
                stored = await self.store.get(resource, ns, name)
                obj = self._admit_update(kind, obj, stored)
                self.services.admit(obj, stored)
                out = await self._service_write(
                    self._write_update(resource, obj, stored, dry_run))
                if not dry_run:
                    self.services.commit(out, stored)
                return out
        stored = await self.store.get(resource, ns, name)
        obj = self._admit_update(kind, obj, stored)
        return await self._write_update(resource, obj, stored, dry_run)

    def _admit_update(self, kind: Kind, obj: Obj, stored: Obj) -> Obj:
        if kind.plural in STATUS_SUBRESOURCE:
            if "status" in stored:
                obj["status"] = copy.deepcopy(stored["status"])
            else:
                obj.pop("status", None)
        if kind.plural == "services":
            drop_type_dependent_fields(obj, stored)
        m, sm = meta(obj), meta(stored)
        for f in SERVER_OWNED_METADATA:
            if f in sm:
                m[f] = sm[f]
            else:
                m.pop(f, None)
        obj = admission.default_and_validate(kind, obj, self.config)
        if kind.group == "apps":
            old_sel = (stored.get("spec") or {}).get("selector")
            new_sel = (obj.get("spec") or {}).get("selector")
            if old_sel != new_sel:
                raise Invalid(kind.kind, str(m.get("name", "")), [
                    invalid_value("spec.selector", new_sel, "field is immutable")])
        return obj

    async def _write_update(self, resource: str, obj: Obj, stored: Obj, dry_run: bool) -> Obj:
        check_version(obj, stored)
        probe = copy.deepcopy(obj)
        meta(probe)["resourceVersion"] = meta(stored).get("resourceVersion")
        for f in ("uid", "creationTimestamp", "generation"):
            meta(probe)[f] = meta(stored).get(f)
        if _same_except_version(probe, stored):
            return stored  # nothing changed: no write, no event
        if dry_run:
            return probe
        return await self.store.update(resource, obj)

    async def update_status(self, resource: str, obj: Obj, dry_run: bool = False) -> Obj:
        kind = kind_for(resource)
        obj = admission.prepare(kind, obj)
        m = meta(obj)
        stored = await self.store.get(resource, str(m.get("namespace") or ""), str(m.get("name")))
        check_version(obj, stored)
        if obj.get("status") == stored.get("status") and ("status" in obj) == ("status" in stored):
            return stored
        if dry_run:
            out = copy.deepcopy(stored)
            out["status"] = copy.deepcopy(obj.get("status"))
            return out
        return await self.store.update_status(resource, obj)

    # -- patch / apply --
    async def patch(self, resource: str, namespace: str, name: str, patch: dict[str, Any],
                    dry_run: bool = False, status: bool = False, strategic: bool = False) -> Obj:
        """Apply a JSON merge patch (RFC 7386), or with ``strategic`` a strategic merge patch
        (podnet.apiserver.strategic); ``status=True`` patches the status subresource.

        Without a resourceVersion in the patch a conflicting concurrent write is retried."""
        if not isinstance(patch, dict):
            raise BadRequest("a merge patch must be a JSON object")
        precondition = (patch.get("metadata") or {}).get("resourceVersion")
        for attempt in range(PATCH_RETRIES):
            stored = await self.get(resource, namespace, name)
            target = (strategic_patch(stored, patch, kind_for(resource).kind) if strategic
                      else patching.merge_patch(stored, patch))
            tm = meta(target)
            tm["name"] = name
            tm["resourceVersion"] = precondition or meta(stored)["resourceVersion"]
            if namespace:
                tm["namespace"] = namespace
            try:
                if status:
                    return await self.update_status(resource, target, dry_run=dry_run)
                return await self.update(resource, target, dry_run=dry_run)
            except Conflict:
                if precondition or attempt == PATCH_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    async def apply(self, obj: Obj, dry_run: bool = False) -> Obj:
        """kubectl-style apply (create, or three-way merge patch); see patch.apply."""
        return await patching.apply(self, obj, dry_run=dry_run)

    # -- delete --
    async def delete(self, resource: str, namespace: str, name: str,
                     resource_version: str | None = None,
                     grace_period_seconds: int | None = None, dry_run: bool = False) -> Obj:
        kind_for(resource)
        if resource == "services":
            async with self._service_lock:
                await self._load_services()
                out = await self._service_write(deletion.delete_now(
                    self.store, resource, namespace, name, resource_version, dry_run))
                if not dry_run:
                    self.services.commit(None, out)
                return out
        if resource == "pods":
            return await deletion.delete_pod(self.store, namespace, name, resource_version,
                                             grace_period_seconds, dry_run)
        if resource == "namespaces":
            return await deletion.delete_namespace(self.store, name, resource_version, dry_run)
        return await deletion.delete_now(self.store, resource, namespace, name, resource_version,
                                         dry_run)


__all__ = ["STATUS_SUBRESOURCE", "Registry", "kind_for"]
