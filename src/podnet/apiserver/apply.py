"""Client-side apply, all or nothing: what ``podnet apply -f`` does against any Store.

Each object is applied the way ``kubectl apply`` does it (``podnet.apiserver.patch``:
create, or a three-way merge patch from the last-applied annotation, which leaves what
the server allocated — clusterIP, nodePorts — and controllers' fields alone). Every
step is first dry-run on the server, so a nodePort already taken or a missing
namespace is found before anything changes; only when all pass are they written,
Namespaces first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from podnet.api.kinds import Obj, kind_of, name_of, namespace_of, ref
from podnet.apiserver.patch import do_apply, plan_apply
from podnet.store.base import NotFound, StoreError


@dataclass
class ApplyProblem:
    ref: str
    message: str


@dataclass
class ApplyFailed(Exception):
    problems: list[ApplyProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(f"Error from server ({p.ref}): {p.message}" for p in self.problems)


async def apply_all(store: Any, objs: list[Obj]) -> list[str]:
    """Dry-run every write, then do them all; returns kubectl-style lines
    (``service/web created``). Raises ApplyFailed listing every problem, having
    changed nothing. ``store`` must accept ``dry_run`` (the Registry or the Client)."""
    ordered = sorted(objs, key=lambda o: 0 if o.get("kind") == "Namespace" else 1)
    steps = [(o, await plan_apply(store, o)) for o in ordered]
    batch_namespaces = {name_of(o) for o in ordered if o.get("kind") == "Namespace"}
    problems: list[ApplyProblem] = []
    for obj, step in steps:
        try:
            await do_apply(store, step, dry_run=True)
        except NotFound as e:
            if namespace_of(obj) in batch_namespaces and "namespaces" in str(e):
                continue  # its Namespace is created first, in this same apply
            problems.append(ApplyProblem(ref(obj), str(e)))
        except StoreError as e:
            problems.append(ApplyProblem(ref(obj), str(e)))
    if problems:
        raise ApplyFailed(problems)
    lines: list[str] = []
    for obj, step in steps:
        await do_apply(store, step)
        k = kind_of(obj)
        prefix = k.singular if not k.group else f"{k.singular}.{k.group}"
        lines.append(f"{prefix}/{name_of(obj)} {step[3]}")
    return lines
