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

from podnet.proxy.state import Chain, Changes, DesiredState, NftSet, changes_between


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
    """
    if not compatible(old, new):
        raise ValueError("set declarations differ: a full sync is needed")
    return script(new.family, new.table, changes_between(old, new))


def script(family: str, table: str, ch: Changes) -> str:
    """One transaction applying ``ch``.

    Order matters inside it: new chains exist before rules or elements jump to
    them; elements and rules leave a chain before it is deleted; a changed
    element is deleted and re-added (nft 1.0.6 has no replace).
    """
    t = f"{family} {table}"
    out: list[str] = []
    for c in ch.chains_added:
        out.append(f"add chain {t} {c.name} {_chain_head(c)}")
    for c in ch.chains_changed:
        out.append(f"flush chain {t} {c.name}")
    for c in [*ch.chains_added, *ch.chains_changed]:
        out += [f"add rule {t} {c.name} {r}" for r in c.rules]
    for name, gone in ch.deleted.items():
        if gone:
            out.append(f"delete element {t} {name} {{ {_elements(gone, gone, False)} }}")
    for name, fresh in ch.added.items():
        if fresh:
            out.append(f"add element {t} {name} {{ {_elements(fresh, fresh, True)} }}")
    for c in ch.chains_removed:
        out.append(f"flush chain {t} {c.name}")
    for c in ch.chains_removed:
        out.append(f"delete chain {t} {c.name}")
    return "\n".join(out) + "\n" if out else ""
