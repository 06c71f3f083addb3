"""API errors and their Kubernetes ``Status`` form, in both directions.

The store's errors (NotFound, AlreadyExists, Conflict, Gone) already carry an
HTTP code and a Kubernetes reason; this module adds the ones only the API layer
raises (Invalid with its field causes, Forbidden, BadRequest, ...) and converts
any of them to a ``{"kind": "Status", ...}`` body (server side) and a Status
body back to the same exception class (client side), so a caller of the HTTP
client sees exactly what a caller of the in-process Registry sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from podnet.store.base import AlreadyExists, BadRequest, Conflict, Gone, NotFound, StoreError

# Kubernetes' field.ErrorType values and the words its messages use for them.
_TYPE_WORDS = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueTypeInvalid": "Invalid value",
    "InternalError": "Internal error",
}
_WORD_TYPES = {word: t for t, word in _TYPE_WORDS.items() if t != "FieldValueTypeInvalid"}


class FieldErrorLike(Protocol):
    """What podnet.api.validation.FieldError offers (path, type, detail, value, str())."""

    @property
    def path(self) -> str: ...

    @property
    def type(self) -> str: ...


@dataclass(frozen=True)
class Cause:
    """One entry of ``Status.details.causes``: the field path, a reason and the message body."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    @classmethod
    def from_field_error(cls, fe: FieldErrorLike) -> Cause:
        text = str(fe)
        prefix = f"{fe.path}: "
        body = text[len(prefix):] if text.startswith(prefix) else text
        etype = str(fe.type)
        reason = etype if etype in _TYPE_WORDS else _WORD_TYPES.get(etype, "FieldValueInvalid")
        return cls(str(fe.path), reason, body)


def format_value(value: Any) -> str:
    """A value the way Kubernetes prints it in a field error: strings quoted, numbers bare."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def invalid_value(field: str, value: Any, detail: str) -> Cause:
    return Cause(field, "FieldValueInvalid", f"Invalid value: {format_value(value)}: {detail}")


class Invalid(StoreError):
    """422: the object failed validation or admission. ``causes`` name each bad field."""

    code = 422
    reason = "Invalid"

    def __init__(self, kind: str, name: str, causes: Iterable[Cause], message: str = "") -> None:
        self.kind = kind
        self.name = name
        self.causes = list(causes)
        if not message:
            inner = [str(c) for c in self.causes]
            joined = inner[0] if len(inner) == 1 else "[" + ", ".join(inner) + "]"
            message = f'{kind} "{name}" is invalid: {joined}'
        super().__init__(message)

    @classmethod
    def from_field_errors(cls, kind: str, name: str, errors: Iterable[FieldErrorLike]) -> Invalid:
        return cls(kind, name, [Cause.from_field_error(e) for e in errors])


class Unauthorized(StoreError):
    code = 401
    reason = "Unauthorized"


class Forbidden(StoreError):
    code = 403
    reason = "Forbidden"


class MethodNotAllowed(StoreError):
    code = 405
    reason = "MethodNotAllowed"


class UnsupportedMediaType(StoreError):
    code = 415
    reason = "UnsupportedMediaType"


_BY_REASON: dict[str, type[StoreError]] = {
    c.reason: c
    for c in (NotFound, AlreadyExists, Conflict, Gone, BadRequest, Unauthorized, Forbidden,
              MethodNotAllowed, UnsupportedMediaType)
}
_BY_REASON["Gone"] = Gone
# a bare error without a reason (a proxy's answer, say): guess from the HTTP code
_BY_CODE: dict[int, type[StoreError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    409: Conflict, 410: Gone, 415: UnsupportedMediaType,
}

__all__ = ["BadRequest", "Cause", "Forbidden", "Invalid", "MethodNotAllowed", "Unauthorized",
           "UnsupportedMediaType", "error_from_status", "invalid_value", "status_of"]


def status_of(err: BaseException, name: str = "", kind: str = "",
              group: str = "") -> dict[str, Any]:
    """The Kubernetes Status body for an error (non-StoreErrors become 500 InternalError)."""
    code = err.code if isinstance(err, StoreError) else 500
    reason = err.reason if isinstance(err, StoreError) else "InternalError"
    details: dict[str, Any] = {}
    if isinstance(err, Invalid):
        name, kind = err.name or name, err.kind or kind
        details["causes"] = [c.to_json() for c in err.causes]
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": str(err) or reason,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def error_from_status(status: dict[str, Any], http_code: int = 0) -> StoreError:
    """The exception a Status body stands for (the inverse of ``status_of``)."""
    reason = str(status.get("reason") or "")
    code = int(status.get("code") or http_code or 500)
    message = str(status.get("message") or reason or f"HTTP {code}")
    details = status.get("details") or {}
    if reason == "Invalid" or code == 422:
        causes = [
            Cause(str(c.get("field", "")), str(c.get("reason", "")), str(c.get("message", "")))
            for c in details.get("causes") or []
        ]
        return Invalid(str(details.get("kind", "")), str(details.get("name", "")), causes, message)
    cls = _BY_REASON.get(reason) or (None if reason else _BY_CODE.get(code))
    if cls is not None:
        return cls(message)
    err = StoreError(message)
    err.code = code
    err.reason = reason or "InternalError"
    return err
