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
