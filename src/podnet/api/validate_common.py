"""Field errors and the validation building blocks every kind shares.

``FieldError`` renders exactly like Kubernetes' ``field.Error``
(``spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive``);
the ``*_errors`` helpers return the message lists of k8s.io/apimachinery's
``IsDNS1123Label``, ``IsValidPortName``, ... with their exact wording. The
``Errs`` collector also checks JSON types, so a malformed object yields field
errors instead of a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from podnet.api.selectors import label_key_errors, label_value_errors
from podnet.api.validate_messages import (
    NameFn,
    dns1123_label_errors,
    mask_trailing_dash,
    port_name_errors,
    port_num_errors,
    qualified_name_errors,
)

INVALID = "Invalid value"
REQUIRED = "Required value"
UNSUPPORTED = "Unsupported value"
DUPLICATE = "Duplicate value"
FORBIDDEN = "Forbidden"
TOO_LONG = "Too long"
NOT_FOUND = "Not found"
_NO_VALUE = frozenset({REQUIRED, FORBIDDEN, TOO_LONG, "Internal error"})


class GoValue(str):
    """A value already rendered the way Go's ``%#v`` prints it (shown unquoted)."""


def go_repr(value: Any) -> str:
    """Render a bad value as Kubernetes' field.Error does (``%v``, ``%q`` or ``%#v``)."""
    if isinstance(value, GoValue):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        body = ", ".join(f"{json.dumps(str(k))}:{json.dumps(v)}" for k, v in sorted(value.items()))
        return f"map[string]string{{{body}}}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True)
class FieldError:
    """One invalid field, as Kubernetes' ``field.Error``."""

    path: str
    type: str
    detail: str = ""
    value: Any = None

    def __str__(self) -> str:
        body = self.type if self.type in _NO_VALUE else f"{self.type}: {go_repr(self.value)}"
        if self.detail:
            body += f": {self.detail}"
        return f"{self.path}: {body}"


@dataclass(frozen=True)
class ValidationContext:
    """Cluster settings static validation depends on."""

    service_cidr: str = "10.96.0.0/12"
    node_port_range: tuple[int, int] = (30000, 32767)


def child(path: str, *names: str) -> str:
    return ".".join([path, *names]) if path else ".".join(names)


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


# -- the collector ------------------------------------------------------------------


PROTOCOLS = ("SCTP", "TCP", "UDP")


class Errs(list[FieldError]):
    """A growing error list with typed accessors that report wrong JSON types."""

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.append(FieldError(path, INVALID, detail, value))

    def required(self, path: str, detail: str = "") -> None:
        self.append(FieldError(path, REQUIRED, detail))

    def forbidden(self, path: str, detail: str) -> None:
        self.append(FieldError(path, FORBIDDEN, detail))

    def too_long(self, path: str, limit: int) -> None:
        self.append(FieldError(path, TOO_LONG, f"may not be more than {limit} bytes"))

    def duplicate(self, path: str, value: Any) -> None:
        self.append(FieldError(path, DUPLICATE, "", value))

    def not_supported(self, path: str, value: Any, valid: Iterable[str]) -> None:
        detail = "supported values: " + ", ".join(json.dumps(v) for v in valid)
        self.append(FieldError(path, UNSUPPORTED, detail, value))

    def each(self, path: str, value: Any, messages: list[str]) -> None:
        for msg in messages:
            self.invalid(path, value, msg)

    def as_map(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.invalid(path, value, "must be an object")
            return {}
        return value

    def as_list(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.invalid(path, value, "must be a list")
            return []
        return value

    def as_str(self, value: Any, path: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            self.invalid(path, value, "must be a string")
            return ""
        return value

    def as_int(self, value: Any, path: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.invalid(path, value, "must be an integer")
            return None
        return value

    def int_or_str(self, value: Any, path: str) -> int | str | None:
        if value is None or (isinstance(value, int | str) and not isinstance(value, bool)):
            return value
        self.invalid(path, value, "must be an integer or a string")
        return None

    def nonnegative(self, value: Any, path: str) -> None:
        n = self.as_int(value, path)
        if n is not None and n < 0:
            self.invalid(path, n, "must be greater than or equal to 0")

    def port_num_or_name(self, value: Any, path: str) -> None:
        v = self.int_or_str(value, path)
        if isinstance(v, int):
            self.each(path, v, port_num_errors(v))
        elif isinstance(v, str):
            self.each(path, v, port_name_errors(v))

    def protocol(self, value: Any, path: str, order: tuple[str, ...] = PROTOCOLS) -> None:
        p = self.as_str(value, path)
        if not p:
            self.required(path)
        elif p not in order:
            self.not_supported(path, p, order)


# -- metadata, labels, selectors ---------------------------------------------------


def validate_labels(labels: Any, path: str, errs: Errs) -> None:
    for key, value in errs.as_map(labels, path).items():
        errs.each(path, key, label_key_errors(str(key)))
        if not isinstance(value, str):
            errs.invalid(path, value, "must be a string")
        else:
            errs.each(path, value, label_value_errors(value))


def validate_annotations(annotations: Any, path: str, errs: Errs) -> None:
    total = 0
    for key, value in errs.as_map(annotations, path).items():
        errs.each(path, key, qualified_name_errors(str(key).lower()))
        if not isinstance(value, str):
            errs.invalid(path, value, "must be a string")
        total += len(str(key)) + len(str(value))
    if total > 256 * 1024:
        errs.append(FieldError(path, TOO_LONG, "must have at most 262144 bytes"))


def validate_metadata(obj: dict[str, Any], namespaced: bool, name_fn: NameFn, errs: Errs) -> None:
    """ValidateObjectMeta: name (or generateName), namespace, labels, annotations."""
    md = errs.as_map(obj.get("metadata"), "metadata")
    gen = errs.as_str(md.get("generateName"), "metadata.generateName")
    if gen:
        errs.each("metadata.generateName", gen, name_fn(mask_trailing_dash(gen)))
    name = errs.as_str(md.get("name"), "metadata.name")
    if name:
        errs.each("metadata.name", name, name_fn(name))
    elif not gen:
        errs.required("metadata.name", "name or generateName is required")
    ns = errs.as_str(md.get("namespace"), "metadata.namespace")
    if namespaced:
        if not ns:
            errs.required("metadata.namespace")
        else:
            errs.each("metadata.namespace", ns, dns1123_label_errors(ns))
    elif ns:
        errs.forbidden("metadata.namespace", "not allowed on this type")
    validate_labels(md.get("labels"), "metadata.labels", errs)
    validate_annotations(md.get("annotations"), "metadata.annotations", errs)


def validate_label_selector(sel: Any, path: str, errs: Errs) -> None:
    """metav1 ValidateLabelSelector: matchLabels and matchExpressions rules."""
    sel = errs.as_map(sel, path)
    validate_labels(sel.get("matchLabels"), child(path, "matchLabels"), errs)
    exprs_path = child(path, "matchExpressions")
    for i, expr in enumerate(errs.as_list(sel.get("matchExpressions"), exprs_path)):
        p = index(exprs_path, i)
        expr = errs.as_map(expr, p)
        op = errs.as_str(expr.get("operator"), child(p, "operator"))
        values = errs.as_list(expr.get("values"), child(p, "values"))
        if op in ("In", "NotIn"):
            if not values:
                errs.required(child(p, "values"),
                              "must be specified when `operator` is 'In' or 'NotIn'")
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.forbidden(child(p, "values"),
                               "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        else:
            errs.invalid(child(p, "operator"), op, "not a valid selector operator")
        key = errs.as_str(expr.get("key"), child(p, "key"))
        errs.each(child(p, "key"), key, qualified_name_errors(key))
        for j, v in enumerate(values):
            vp = index(child(p, "values"), j)
            if not isinstance(v, str):
                errs.invalid(vp, v, "must be a string")
            else:
                errs.each(vp, v, label_value_errors(v))
