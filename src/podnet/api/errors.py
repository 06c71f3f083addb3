"""Invalid input: per-object error reports and the all-or-nothing check of one apply.

``check_documents`` defaults and validates every loaded document and either
returns all defaulted objects or raises ``InvalidInput`` listing every problem
of every object, each naming the file, the document (1-based in messages) and
its line, the object (``Service default/web``) and the field::

    examples/app.yaml: document 2 (line 14): Service default/web is invalid:
      * spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from podnet.api.defaults import apply_defaults
from podnet.api.kinds import Obj
from podnet.api.validation import FieldError, ValidationContext, validate, validate_batch

if TYPE_CHECKING:
    from podnet.api.loader import Document


def describe(obj: Obj) -> str:
    """``Kind namespace/name`` like kinds.ref, safe for malformed objects ("object" if no kind)."""
    md = obj.get("metadata")
    md = md if isinstance(md, dict) else {}
    ns, name = str(md.get("namespace") or ""), str(md.get("name") or "")
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) and obj.get("kind") else "object"
    return f"{kind} {ns + '/' if ns else ''}{name}".rstrip()


@dataclass
class ObjectError:
    """Everything wrong with one object of the input."""

    source: str
    index: int
    line: int
    ref: str
    errors: list[FieldError] = field(default_factory=list)

    def location(self) -> str:
        return f"{self.source}: document {self.index + 1} (line {self.line})"

    def __str__(self) -> str:
        lines = [f"{self.location()}: {self.ref} is invalid:"]
        lines += [f"  * {e}" for e in self.errors]
        return "\n".join(lines)


class InvalidInput(Exception):
    """The input cannot be applied; ``problems`` lists all reasons (objects or plain text)."""

    def __init__(self, problems: list[ObjectError | str]):
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    def __str__(self) -> str:
        return self.render()


def check_documents(docs: list[Document], ctx: ValidationContext = ValidationContext()
                    ) -> list[Obj]:
    """Default and validate all documents; all of them or raise ``InvalidInput``."""
    objs = [apply_defaults(d.obj) for d in docs]
    errors: list[list[FieldError]] = [validate(o, ctx) for o in objs]
    for i, extra in validate_batch(objs, ctx).items():
        errors[i].extend(extra)
    problems: list[ObjectError | str] = [
        ObjectError(d.source, d.index, d.line, describe(o), errs)
        for d, o, errs in zip(docs, objs, errors, strict=True) if errs
    ]
    if problems:
        raise InvalidInput(problems)
    return objs
