"""DesiredState -> nft script: the full table, or an element-level diff of two states.

Both scripts are one ``nft -f`` transaction: the kernel applies all of it or
none of it. The full script replaces the table atomically (``add`` + ``delete``
+ define, so it works whether or not the table exists); established
connections keep their NAT bindings because those live in conntrack, not in
the table. The diff script never touches unchanged elements or rules:
adding a service is a handful of ``add element`` lines, whatever the size of
the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from podnet.proxy.state import Chain, DesiredState, NftSet


def _elements(elements: Mapping[str, str | None], keys: Iterable[str], with_values: bool) -> str:
    parts = []
    for k in keys:
        v = elements[k]
        parts.append(f"{k} : {v}" if with_values and v is not None else k)
    return ",\n\t\t".join(parts)


def _set_decl(s: NftSet, with_elements: bool) -> list[str]:
    lines = [f"\t{s.kind} {s.name} {{"]
    lines += [f"\t\t{line};" for line in s.spec]
    if with_elements and s.elements:
        lines.append(f"\t\telements = {{ {_elements(s.elements, s.elements, True)} }};")
    lines.append("\t}")
    return lines


def _chain_head(c: Chain) -> str:
    return f"{{ {c.hook}; policy accept; }}" if c.hook else "{ }"


def full(state: DesiredState) -> str:
    """The script that (re)creates the whole table in one transaction."""
    t = f"{state.family} {state.table}"
    out = [f"add table {t}", f"delete table {t}", f"table {t} {{"]
    for s in state.sets.values():
        out += _set_decl(s, with_elements=True)
    for c in state.chains.values():
        out.append(f"\tchain {c.name} {_chain_head(c)}")
    out.append("}")
    out.append(f"table {t} {{")
    for c in state.chains.values():
        if c.rules:
            out.append(f"\tchain {c.name} {{")
            out += [f"\t\t{r}" for r in c.rules]
            out.append("\t}")
    out.append("}")
    return "\n".join(out) + "\n"


def compatible(old: DesiredState, new: DesiredState) -> bool:
    """True when ``new`` can be reached from ``old`` by a diff (same table and set types)."""
    if (old.family, old.table) != (new.family, new.table):
        return False
    if old.sets.keys() != new.sets.keys():
        return False
    return all(
        (old.sets[n].kind, old.sets[n].spec) == (new.sets[n].kind, new.sets[n].spec)
        for n in new.sets
    )


def diff(old: DesiredState, new: DesiredState) -> str:
    """The element- and chain-level changes from ``old`` to ``new`` ("" when none).

    Raises ValueError when the states are not :func:`compatible` (use :func:`full`).
    Order matters inside the transaction: new chains exist before rules or
    elements jump to them; elements and rules leave a chain before it is deleted.
    """
    if not compatible(old, new):
        raise ValueError("set declarations differ: a full sync is needed")
    t = f"{new.family} {new.table}"
    out: list[str] = []
    added = [c for n, c in new.chains.items() if n not in old.chains]
    removed = [c for n, c in old.chains.items() if n not in new.chains]
    changed = [c for n, c in new.chains.items() if n in old.chains and old.chains[n] != c]
    for c in added:
        out.append(f"add chain {t} {c.name} {_chain_head(c)}")
    for c in changed:
        if c.hook != old.chains[c.name].hook:
            raise ValueError(f"base chain {c.name} changed its hook: a full sync is needed")
        out.append(f"flush chain {t} {c.name}")
    for c in [*added, *changed]:
        out += [f"add rule {t} {c.name} {r}" for r in c.rules]
    adds: list[str] = []
    for name, s in new.sets.items():
        if s.dynamic:
            continue
        before = old.sets[name].elements
        gone = [k for k in before if k not in s.elements or s.elements[k] != before[k]]
        fresh = [k for k in s.elements if k not in before or s.elements[k] != before[k]]
        if gone:
            out.append(f"delete element {t} {name} {{ {_elements(before, gone, False)} }}")
        if fresh:
            adds.append(f"add element {t} {name} {{ {_elements(s.elements, fresh, True)} }}")
    out += adds
    for c in removed:
        out.append(f"flush chain {t} {c.name}")
    for c in removed:
        out.append(f"delete chain {t} {c.name}")
    return "\n".join(out) + "\n" if out else ""
