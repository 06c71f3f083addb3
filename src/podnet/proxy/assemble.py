"""Keep the desired table up to date service by service, and know what changed.

Recomputing and diffing the whole table for every endpoint change would cost
O(all services) in Python (~0.5 s at 10k services). The :class:`Assembler`
instead holds the merged elements and swaps one service's frontends at a
time, recording which elements and chains changed since the last
:meth:`Assembler.take_changes`. That makes an endpoint change O(that service).

Ownership: a frontend (ip . proto . port) claimed by two services goes to the
smaller "namespace/name" (the same rule as :func:`podnet.proxy.plan.plan`).
Hairpin elements are shared by every frontend that uses an endpoint IP and are
reference-counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from podnet.proxy.layout import FAMILY, MASQ_MARK, TABLE, Pick, chains, contribution, sets
from podnet.proxy.model import Frontend
from podnet.proxy.state import Chain, Changes, DesiredState

FeKey = tuple[str, str, int]
_MISSING = object()


class Assembler:
    """The desired state of one proxy table, updated per service."""

    def __init__(
        self, pod_cidr: str, masq_mark: int = MASQ_MARK, table: str = TABLE,
        node: str | None = None,
    ) -> None:
        self.pod_cidr = pod_cidr
        self.node = node
        self.masq_mark = masq_mark
        self.table = table
        self._sets = sets()
        self._elements: dict[str, dict[str, str | None]] = {n: {} for n in self._sets}
        self._service_keys: dict[str, set[FeKey]] = {}
        self._owners: dict[FeKey, dict[str, Frontend]] = {}
        self._active: dict[FeKey, Frontend] = {}
        self._hairpin = Counter[str]()
        self._picks = Counter[Pick]()
        self._chains = chains(pod_cidr, set(), masq_mark)
        self._touched: dict[tuple[str, str], object] = {}  # (set, key) -> value before

    # -- updates ---------------------------------------------------------------
    def set_service(self, service: str, frontends: Iterable[Frontend]) -> None:
        """Replace everything ``service`` owns by ``frontends`` (empty: delete it)."""
        new = {fe.key: fe for fe in frontends}
        old_keys = self._service_keys.pop(service, set())
        for key in old_keys - new.keys():
            owners = self._owners[key]
            owners.pop(service, None)
            if not owners:
                del self._owners[key]
        for key, fe in new.items():
            self._owners.setdefault(key, {})[service] = fe
        if new:
            self._service_keys[service] = set(new)
        for key in old_keys | new.keys():
            claims = self._owners.get(key)
            winner = claims[min(claims)] if claims else None
            current = self._active.get(key)
            if winner != current:
                if current is not None:
                    self._apply(current, -1)
                if winner is not None:
                    self._apply(winner, +1)
                    self._active[key] = winner
                else:
                    self._active.pop(key, None)

    def _set(self, set_name: str, key: str, value: object) -> None:
        elements = self._elements[set_name]
        mark = (set_name, key)
        if mark not in self._touched:
            self._touched[mark] = elements.get(key, _MISSING)
        if value is _MISSING:
            elements.pop(key, None)
        else:
            elements[key] = value  # type: ignore[assignment]

    def _apply(self, fe: Frontend, sign: int) -> None:
        elements, picks = contribution(fe, self.node)
        for set_name, items in elements.items():
            for key, value in items.items():
                if set_name == "hairpin":
                    self._hairpin[key] += sign
                    if self._hairpin[key] <= 0:
                        del self._hairpin[key]
                        self._set(set_name, key, _MISSING)
                    elif sign > 0:
                        self._set(set_name, key, None)
                else:
                    self._set(set_name, key, value if sign > 0 else _MISSING)
        for p in picks:
            self._picks[p] += sign
            if self._picks[p] <= 0:
                del self._picks[p]

    # -- results ---------------------------------------------------------------
    def state(self) -> DesiredState:
        """The complete desired table (a snapshot)."""
        from podnet.proxy.state import NftSet

        snapshot = {
            n: NftSet(s.name, s.kind, s.spec, dict(self._elements[n]), s.dynamic)
            for n, s in self._sets.items()
        }
        return DesiredState(FAMILY, self.table, snapshot,
                            chains(self.pod_cidr, set(self._picks), self.masq_mark))

    def take_changes(self) -> Changes:
        """What changed since the previous call (or since creation), then forget it."""
        ch = Changes()
        for (set_name, key), before in self._touched.items():
            now = self._elements[set_name].get(key, _MISSING)
            if now is before or now == before:
                continue
            if before is not _MISSING:
                ch.deleted.setdefault(set_name, {})[key] = before  # type: ignore[assignment]
            if now is not _MISSING:
                ch.added.setdefault(set_name, {})[key] = now  # type: ignore[assignment]
        self._touched.clear()
        new_chains = chains(self.pod_cidr, set(self._picks), self.masq_mark)
        old_chains: dict[str, Chain] = self._chains
        ch.chains_added = [c for n, c in new_chains.items() if n not in old_chains]
        ch.chains_removed = [c for n, c in old_chains.items() if n not in new_chains]
        ch.chains_changed = [
            c for n, c in new_chains.items() if n in old_chains and old_chains[n] != c
        ]
        self._chains = new_chains
        return ch

    def forget_changes(self) -> None:
        """Drop the pending delta (after a full sync made the kernel match :meth:`state`)."""
        self._touched.clear()
        self._chains = chains(self.pod_cidr, set(self._picks), self.masq_mark)

    @property
    def frontends(self) -> tuple[Frontend, ...]:
        return tuple(self._active.values())
