"""Label selectors evaluated over many objects at once, as bitsets.

Matching every selector against every pod one by one is the slow part of a
naive analyzer (1000 pods x 1000 selectors). Instead, ``LabelIndex`` keeps an
inverted index (``key=value`` -> bitset of objects, ``key`` -> bitset) and turns
each requirement of a ``podnet.api.selectors.Selector`` into set algebra on
Python ints: In is a union, NotIn and DoesNotExist complements, Exists a lookup.
The semantics are those of ``Requirement.matches`` (tested against it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from podnet.api.selectors import Requirement, Selector


def bits(indexes: Sequence[int] | set[int]) -> int:
    """A bitset with the given bit positions set."""
    out = 0
    for i in indexes:
        out |= 1 << i
    return out


def members(bitset: int) -> list[int]:
    """The set bit positions of ``bitset``, ascending."""
    out: list[int] = []
    while bitset:
        low = bitset & -bitset
        out.append(low.bit_length() - 1)
        bitset ^= low
    return out


class LabelIndex:
    """Bitset answers to "which of these objects does this selector match"."""

    def __init__(self, labels: Sequence[Mapping[str, str]], universe: int | None = None) -> None:
        self.all = universe if universe is not None else (1 << len(labels)) - 1
        self._by_pair: dict[tuple[str, str], int] = {}
        self._by_key: dict[str, int] = {}
        self._values: dict[str, set[str]] = {}
        for i, lab in enumerate(labels):
            bit = 1 << i
            if not self.all & bit:
                continue
            for k, v in lab.items():
                self._by_pair[(k, v)] = self._by_pair.get((k, v), 0) | bit
                self._by_key[k] = self._by_key.get(k, 0) | bit
                self._values.setdefault(k, set()).add(v)
        self._cache: dict[Selector, int] = {}

    def _requirement(self, r: Requirement) -> int:
        if r.op in ("In", "NotIn"):
            hit = 0
            for v in r.values:
                hit |= self._by_pair.get((r.key, v), 0)
            return hit if r.op == "In" else self.all & ~hit
        if r.op == "Exists":
            return self._by_key.get(r.key, 0)
        if r.op == "DoesNotExist":
            return self.all & ~self._by_key.get(r.key, 0)
        if r.op in ("Gt", "Lt"):
            out = 0
            for v in self._values.get(r.key, ()):
                if r.matches({r.key: v}):
                    out |= self._by_pair[(r.key, v)]
            return out
        return 0

    def match(self, selector: Selector) -> int:
        """Bitset of the objects ``selector`` matches (cached per selector)."""
        hit = self._cache.get(selector)
        if hit is None:
            if selector.matches_nothing:
                hit = 0
            else:
                hit = self.all
                for r in selector.requirements:
                    hit &= self._requirement(r)
                    if not hit:
                        break
            self._cache[selector] = hit
        return hit
