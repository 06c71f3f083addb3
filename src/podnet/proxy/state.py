"""DesiredState: one nftables table as plain data (sets/maps with elements, chains with rules).

The layout (:mod:`podnet.proxy.layout`) produces it, the renderer
(:mod:`podnet.proxy.render`) turns it into an ``nft -f`` script, and the
applier keeps the last applied one to compute element-level diffs. Keys and
values are stored already in nft syntax ("10.96.0.5 . tcp . 80" ->
"goto pick-3"), so a diff is a dictionary comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NftSet:
    """A named set (values None) or map, with its declaration and elements."""

    name: str
    kind: str  # "set" | "map"
    spec: tuple[str, ...]  # declaration lines: "typeof ...", "flags interval"
    elements: Mapping[str, str | None] = field(default_factory=dict)
    dynamic: bool = False  # elements written by the data path, never diffed


@dataclass(frozen=True)
class Chain:
    """A chain; ``hook`` makes it a base chain ("type nat hook prerouting priority dstnat")."""

    name: str
    rules: tuple[str, ...]
    hook: str | None = None


@dataclass(frozen=True)
class DesiredState:
    family: str
    table: str
    sets: Mapping[str, NftSet]
    chains: Mapping[str, Chain]

    @property
    def element_count(self) -> int:
        return sum(len(s.elements) for s in self.sets.values())


@dataclass
class Changes:
    """An element- and chain-level delta between two states of one table."""

    deleted: dict[str, dict[str, str | None]] = field(default_factory=dict)  # old values
    added: dict[str, dict[str, str | None]] = field(default_factory=dict)
    chains_added: list[Chain] = field(default_factory=list)
    chains_changed: list[Chain] = field(default_factory=list)
    chains_removed: list[Chain] = field(default_factory=list)

    def empty(self) -> bool:
        return not (
            any(self.deleted.values()) or any(self.added.values())
            or self.chains_added or self.chains_changed or self.chains_removed
        )

    @property
    def element_count(self) -> int:
        return sum(map(len, self.deleted.values())) + sum(map(len, self.added.values()))


def changes_between(old: DesiredState, new: DesiredState) -> Changes:
    """The delta from ``old`` to ``new`` (same set declarations assumed)."""
    ch = Changes()
    for name, s in new.sets.items():
        if s.dynamic:
            continue
        before = old.sets[name].elements
        gone = {k: v for k, v in before.items() if k not in s.elements or s.elements[k] != v}
        fresh = {k: v for k, v in s.elements.items() if k not in before or before[k] != v}
        if gone:
            ch.deleted[name] = gone
        if fresh:
            ch.added[name] = fresh
    ch.chains_added = [c for n, c in new.chains.items() if n not in old.chains]
    ch.chains_removed = [c for n, c in old.chains.items() if n not in new.chains]
    ch.chains_changed = [
        c for n, c in new.chains.items() if n in old.chains and old.chains[n] != c
    ]
    return ch
