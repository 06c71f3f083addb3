"""Label selectors: the string form (``a=b,c in (x,y),!d``) and the object form.

One implementation serves the store's ``?labelSelector=`` filter, controllers
(Service -> Pods, Deployment -> ReplicaSets) and NetworkPolicy peers, so every
part of podnet matches labels the same way Kubernetes does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEY_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class SelectorError(ValueError):
    """A label selector that does not parse; the message says why."""


def label_key_errors(key: str) -> list[str]:
    """Kubernetes' messages for an invalid qualified-name label key (empty when valid)."""
    errs: list[str] = []
    prefix, _, name = key.rpartition("/")
    if "/" in key:
        if not prefix:
            errs.append("prefix part must be non-empty")
        elif len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix):
            errs.append(
                "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            )
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    elif not _KEY_NAME.match(name):
        errs.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
            "or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )
    return errs


def label_value_errors(value: str) -> list[str]:
    """Kubernetes' messages for an invalid label value (empty when valid)."""
    errs: list[str] = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _VALUE.match(value):
        errs.append(
            "a valid label must be an empty string or consist of alphanumeric characters, "
            "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
            "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        )
    return errs


@dataclass(frozen=True)
class Requirement:
    """One requirement: ``key op values`` with op In, NotIn, Exists, DoesNotExist, Gt, Lt."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.op == "In":
            return has and labels[self.key] in self.values
        if self.op == "NotIn":
            return not has or labels[self.key] not in self.values
        if self.op == "Exists":
            return has
        if self.op == "DoesNotExist":
            return not has
        if self.op in ("Gt", "Lt"):
            if not has:
                return False
            try:
                have, want = int(labels[self.key]), int(self.values[0])
            except (ValueError, IndexError):
                return False
            return have > want if self.op == "Gt" else have < want
        return False


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements. ``Selector(())`` matches everything."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        lab = labels or {}
        return all(r.matches(lab) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.matches_nothing

    def __str__(self) -> str:
        parts: list[str] = []
        for r in self.requirements:
            if r.op == "In" and len(r.values) == 1:
                parts.append(f"{r.key}={r.values[0]}")
            elif r.op == "NotIn" and len(r.values) == 1:
                parts.append(f"{r.key}!={r.values[0]}")
            elif r.op in ("In", "NotIn"):
                parts.append(f"{r.key} {r.op.lower()} ({','.join(r.values)})")
            elif r.op == "Exists":
                parts.append(r.key)
            elif r.op == "DoesNotExist":
                parts.append(f"!{r.key}")
            else:
                parts.append(f"{r.key}{'>' if r.op == 'Gt' else '<'}{r.values[0]}")
        return ",".join(parts)


NOTHING = Selector((), matches_nothing=True)
EVERYTHING = Selector(())

_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise SelectorError(f"unable to parse requirement: {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def parse(text: str | None) -> Selector:
    """Parse kubectl's ``-l`` syntax. Raises SelectorError with a clear message."""
    if text is None or not text.strip():
        return EVERYTHING
    toks = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise SelectorError(f"unable to parse requirement: {msg} in {text!r}")

    while i < len(toks):
        if toks[i] == "!":
            need(i + 1 < len(toks), "missing key after '!'")
            key = toks[i + 1]
            reqs.append(Requirement(key, "DoesNotExist"))
            i += 2
        else:
            key = toks[i]
            need(key not in "=!(),<>", f"unexpected {key!r}")
            i += 1
            if i >= len(toks) or toks[i] == ",":
                reqs.append(Requirement(key, "Exists"))
            elif toks[i] in ("=", "==", "!="):
                op = "NotIn" if toks[i] == "!=" else "In"
                val = toks[i + 1] if i + 1 < len(toks) and toks[i + 1] != "," else ""
                i += 2 if val else 1
                reqs.append(Requirement(key, op, (val,)))
            elif toks[i] in (">", "<"):
                need(i + 1 < len(toks), "missing value")
                reqs.append(Requirement(key, "Gt" if toks[i] == ">" else "Lt", (toks[i + 1],)))
                i += 2
            elif toks[i].lower() in ("in", "notin"):
                op = "In" if toks[i].lower() == "in" else "NotIn"
                need(i + 1 < len(toks) and toks[i + 1] == "(", "expected '(' after set operator")
                i += 2
                vals: list[str] = []
                while i < len(toks) and toks[i] != ")":
                    if toks[i] != ",":
                        vals.append(toks[i])
                    i += 1
                need(i < len(toks), "missing ')'")
                i += 1
                reqs.append(Requirement(key, op, tuple(vals)))
            else:
                raise SelectorError(f"unable to parse requirement: unexpected {toks[i]!r} in {text!r}")
        for r in reqs[-1:]:
            errs = label_key_errors(r.key)
            if errs:
                raise SelectorError(f"invalid label key {r.key!r}: {'; '.join(errs)}")
        if i < len(toks):
            need(toks[i] == ",", f"expected ',' but found {toks[i]!r}")
            i += 1
    return Selector(tuple(reqs))


def from_label_selector(sel: Mapping[str, Any] | None) -> Selector:
    """A ``metav1.LabelSelector`` dict. ``None`` (missing) matches nothing,
    ``{}`` (empty) matches everything, as in Kubernetes."""
    if sel is None:
        return NOTHING
    reqs: list[Requirement] = []
    for k, v in sorted((sel.get("matchLabels") or {}).items()):
        reqs.append(Requirement(str(k), "In", (str(v),)))
    for e in sel.get("matchExpressions") or []:
        reqs.append(
            Requirement(str(e.get("key", "")), str(e.get("operator", "")),
                        tuple(str(v) for v in (e.get("values") or [])))
        )
    return Selector(tuple(reqs))


def from_match_labels(labels: Mapping[str, str] | None) -> Selector:
    """A Service's ``spec.selector``: ``None`` or ``{}`` selects nothing."""
    if not labels:
        return NOTHING
    return Selector(tuple(Requirement(k, "In", (v,)) for k, v in sorted(labels.items())))
