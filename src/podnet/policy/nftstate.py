"""The gatekeeper's nftables table as plain data, and the scripts that create or change it.

``PolicyTable`` holds what ``nftplan`` computes for one node: named sets with
their elements (already in nft syntax, so a diff is a set comparison) and the
rules of the chains. :func:`full` writes the whole table in one transaction
(``add table; delete table; table {...}``: atomic, works whether or not the
table exists); :func:`diff` writes only what changed between two tables:

* new sets are added (with their elements) before any rule uses them;
* elements of existing sets are deleted/added one by one - a pod, label or
  namespace-label change is only this;
* a chain whose rules changed is flushed and refilled (a policy that starts or
  stops concerning this node, or whose spec changed);
* sets no rule uses any more are deleted last.

Everything lands in one ``nft -f -`` transaction: all of it or nothing. A set
whose declaration changed cannot be altered in place; :func:`diff` returns
None and the caller writes :func:`full` instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

FAMILY = "inet"
TABLE = "podnet-policy"


@dataclass(frozen=True)
class NftSet:
    """A named set: ``type`` in nft syntax, ``interval`` for ranges and CIDRs."""

    name: str
    type: str
    interval: bool = False
    elements: frozenset[str] = frozenset()

    @property
    def declaration(self) -> str:
        flags = " flags interval;" if self.interval else ""
        return f"type {self.type};{flags}"


@dataclass(frozen=True)
class BaseChain:
    name: str
    hook: str  # "type filter hook forward priority filter"
    rules: tuple[str, ...]


@dataclass
class PolicyTable:
    """One node's desired ``inet podnet-policy`` table."""

    base_chains: tuple[BaseChain, ...]
    sets: dict[str, NftSet] = field(default_factory=dict)
    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)  # regular chains
    family: str = FAMILY
    table: str = TABLE

    @property
    def element_count(self) -> int:
        return sum(len(s.elements) for s in self.sets.values())

    @property
    def rule_count(self) -> int:
        return sum(map(len, self.chains.values())) + sum(len(c.rules) for c in self.base_chains)


def _elements(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))


def full(t: PolicyTable) -> str:
    """The script that (re)creates the whole table atomically."""
    name = f"{t.family} {t.table}"
    out = [f"add table {name}", f"delete table {name}", f"table {name} {{"]
    for s in t.sets.values():
        elems = f" elements = {{ {_elements(s.elements)} }};" if s.elements else ""
        out.append(f"\tset {s.name} {{ {s.declaration}{elems} }}")
    for b in t.base_chains:
        out.append(f"\tchain {b.name} {{ {b.hook}; policy accept; }}")
    for c in t.chains:
        out.append(f"\tchain {c} {{ }}")
    out.append("}")
    out.append(f"table {name} {{")
    for b in t.base_chains:
        out.append(f"\tchain {b.name} {{")
        out += [f"\t\t{r}" for r in b.rules]
        out.append("\t}")
    for c, rules in t.chains.items():
        out.append(f"\tchain {c} {{")
        out += [f"\t\t{r}" for r in rules]
        out.append("\t}")
    out.append("}")
    return "\n".join(out) + "\n"


@dataclass
class Delta:
    """What :func:`changes` found; ``script`` is the transaction ("" when nothing changed)."""

    script: str
    elements_added: int = 0
    elements_deleted: int = 0
    sets_added: int = 0
    sets_deleted: int = 0
    chains_rewritten: int = 0


def changes(old: PolicyTable, new: PolicyTable) -> Delta | None:
    """The transaction from ``old`` to ``new``; None when only a full rewrite can do it."""
    if (old.family, old.table, old.base_chains) != (new.family, new.table, new.base_chains):
        return None
    if old.chains.keys() != new.chains.keys():
        return None
    for name, s in new.sets.items():
        prev = old.sets.get(name)
        if prev is not None and (prev.type, prev.interval) != (s.type, s.interval):
            return None
    t = f"{new.family} {new.table}"
    out: list[str] = []
    d = Delta("")
    for name, s in new.sets.items():
        if name not in old.sets:
            out.append(f"add set {t} {name} {{ {s.declaration} }}")
            d.sets_added += 1
            if s.elements:
                out.append(f"add element {t} {name} {{ {_elements(s.elements)} }}")
                d.elements_added += len(s.elements)
            continue
        before = old.sets[name].elements
        gone, fresh = before - s.elements, s.elements - before
        if gone:
            out.append(f"delete element {t} {name} {{ {_elements(gone)} }}")
            d.elements_deleted += len(gone)
        if fresh:
            out.append(f"add element {t} {name} {{ {_elements(fresh)} }}")
            d.elements_added += len(fresh)
    for chain, rules in new.chains.items():
        if old.chains[chain] != rules:
            out.append(f"flush chain {t} {chain}")
            out += [f"add rule {t} {chain} {r}" for r in rules]
            d.chains_rewritten += 1
    for name in old.sets:
        if name not in new.sets:
            out.append(f"delete set {t} {name}")
            d.sets_deleted += 1
    d.script = "\n".join(out) + "\n" if out else ""
    return d
