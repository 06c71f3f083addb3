"""The object-level steps of admission: normalise, default, validate.

``prepare`` turns what a client sent into a well-formed object of the
resource's kind (a private copy with kind/apiVersion set, a generated name for
``generateName``, no namespace on cluster-scoped kinds); ``default_and_validate``
runs podnet.api's defaulting and validation with the cluster's service CIDR and
NodePort range and raises ``Invalid`` carrying every field error at once.
"""

from __future__ import annotations

import copy
import random

from podnet.api.config import ClusterConfig
from podnet.api.defaults import apply_defaults
from podnet.api.kinds import Kind, Obj, meta
from podnet.api.validation import ValidationContext, validate
from podnet.apiserver.errors import Cause, Invalid
from podnet.store.base import BadRequest

# Kubernetes' generateName alphabet: no vowels (no words), no confusable characters
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_rng = random.SystemRandom()


def prepare(kind: Kind, obj: Obj) -> Obj:
    """A private, well-formed copy of ``obj`` for ``kind``; BadRequest when it is another kind."""
    if not isinstance(obj, dict):
        raise BadRequest("the request body must be a JSON object")
    out = copy.deepcopy(obj)
    if out.get("kind") and out["kind"] != kind.kind:
        raise BadRequest(f"the object kind {out['kind']!r} does not match the resource "
                         f"{kind.plural!r} (kind {kind.kind!r})")
    if out.get("apiVersion") and out["apiVersion"] != kind.api_version:
        raise BadRequest(f"the object apiVersion {out['apiVersion']!r} does not match "
                         f"{kind.api_version!r} for {kind.plural}")
    out["kind"], out["apiVersion"] = kind.kind, kind.api_version
    m = meta(out)
    if not kind.namespaced:
        m.pop("namespace", None)
    if not m.get("name") and m.get("generateName"):
        m["name"] = str(m["generateName"]) + "".join(_rng.choice(_NAME_ALPHABET) for _ in range(5))
    if not m.get("name"):
        raise Invalid(kind.kind, "", [Cause("metadata.name", "FieldValueRequired",
                                            "Required value: name or generateName is required")])
    if kind.namespaced and not m.get("namespace"):
        m["namespace"] = "default"
    return out


def prepare_for_create(kind: Kind, obj: Obj) -> None:
    """Server-set initial status, as Kubernetes' create strategies do (kept when given)."""
    if kind.kind == "Namespace":
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif kind.kind == "Pod":
        obj.setdefault("status", {}).setdefault("phase", "Pending")


def default_and_validate(kind: Kind, obj: Obj, config: ClusterConfig) -> Obj:
    """``obj`` with Kubernetes defaults applied; raises Invalid listing every field error."""
    out = apply_defaults(obj)
    ctx = ValidationContext(service_cidr=config.service_cidr,
                            node_port_range=config.node_port_range)
    errors = validate(out, ctx)
    if errors:
        raise Invalid.from_field_errors(kind.kind, str(meta(out).get("name", "")), errors)
    return out
