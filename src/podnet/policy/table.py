"""The truth table: for every (source pod, destination pod, port, protocol), allowed?

Computed with set algebra, not a loop over pod pairs and policies. For one
port/protocol the allowed relation is ``E & I`` where

- ``I`` (ingress) holds (s, d) when d is not ingress-isolated, or some ingress
  rule r with s among its peers applies to d (d selected by r's policy and
  r's ports admit the port on d);
- ``E`` (egress) holds (s, d) when s is not egress-isolated, or some egress rule
  q of a policy selecting s has d among its peers and admits the port on d;

plus the diagonal (a pod reaches itself) and, for hostNetwork sources, the
pods of their own node. Rows are Python-int bitsets over destinations. Sources
with the same set of containing ingress peers (and, separately, the same
egress-isolating policies) share one row, so the work per port is
proportional to rules x distinct source classes, not pods x pods x policies.
Rendering (JSON entries, ``.``/``X`` matrices) lives in tablefmt.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from podnet.policy.labelindex import members
from podnet.policy.resolve import Resolved

PortKey = tuple[int, str]


@dataclass
class TruthTable:
    """``rows[key][s]``: bitset of destinations pod ``s`` may connect to on ``key``."""

    pods: list[str]
    keys: list[PortKey]
    rows: dict[PortKey, list[int]]
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {p: i for i, p in enumerate(self.pods)}

    def allowed(self, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
        s, d = self._index[src], self._index[dst]
        return bool(self.rows[(port, protocol.upper())][s] >> d & 1)

    def entries(self) -> Iterator[dict[str, object]]:
        """The design's JSON entries, ordered by port, protocol, from, to."""
        for port, proto in self.keys:
            rows = self.rows[(port, proto)]
            for s, src in enumerate(self.pods):
                row = rows[s]
                for d, dst in enumerate(self.pods):
                    yield {"from": src, "to": dst, "port": port, "protocol": proto,
                           "allowed": bool(row >> d & 1)}

    def denied(self) -> Iterator[tuple[str, str, int, str]]:
        """Only the denied (from, to, port, protocol) tuples (cheap when few are denied)."""
        full = (1 << len(self.pods)) - 1
        for port, proto in self.keys:
            for s, row in enumerate(self.rows[(port, proto)]):
                for d in members(full & ~row):
                    yield self.pods[s], self.pods[d], port, proto


def default_keys(resolved: Resolved, ports: Iterable[int] | None = None,
                 protocols: Iterable[str] | None = None) -> list[PortKey]:
    """The ports to tabulate. Neither given: every declared (containerPort, protocol).
    Otherwise the product of the given (or declared) port numbers and protocols."""
    declared = {(cp.port, cp.protocol) for p in resolved.pods for cp in p.ports}
    if ports is None and protocols is None:
        return sorted(declared)
    nums = sorted(set(ports)) if ports is not None else sorted({k[0] for k in declared})
    protos = ([p.upper() for p in protocols] if protocols is not None
              else sorted({k[1] for k in declared}) or ["TCP"])
    return [(n, p) for n in nums for p in dict.fromkeys(protos)]


def _classes(signatures: list[tuple[int, ...]]) -> tuple[list[int], list[tuple[int, ...]]]:
    """Group equal signatures: (class id per pod, signature per class)."""
    ids: dict[tuple[int, ...], int] = {}
    per_pod = [ids.setdefault(sig, len(ids)) for sig in signatures]
    return per_pod, list(ids)


def truth_table(resolved: Resolved, keys: list[PortKey]) -> TruthTable:
    """Compute the table for ``keys`` (see the module docstring for the method)."""
    n, full = len(resolved.pods), resolved.all
    pols = resolved.policies
    iso_in = 0
    for i, pol in enumerate(pols):
        if pol.isolates_ingress:
            iso_in |= resolved.selected[i]
    open_in = full & ~iso_in

    # ingress: classes of sources by the ingress rules whose peers contain them
    in_rules = resolved.ingress_rules
    in_sigs: list[list[int]] = [[] for _ in range(n)]
    for r, rule in enumerate(in_rules):
        for s in members(rule.peer_pods):
            in_sigs[s].append(r)
    in_cls, in_sig_list = _classes([tuple(x) for x in in_sigs])
    rule_in_classes: list[list[int]] = [[] for _ in in_rules]
    for c, sig in enumerate(in_sig_list):
        for r in sig:
            rule_in_classes[r].append(c)

    # egress: classes of sources by the egress-isolating policies selecting them
    eg_pols = [i for i, pol in enumerate(pols) if pol.isolates_egress]
    eg_sigs = [tuple(i for i in eg_pols if resolved.selected[i] >> s & 1) for s in range(n)]
    eg_cls, eg_sig_list = _classes(eg_sigs)
    rules_of: dict[int, list[int]] = {}
    for q, rule in enumerate(resolved.egress_rules):
        rules_of.setdefault(rule.policy, []).append(q)

    diag = [1 << s for s in range(n)]
    for s, pod in enumerate(resolved.pods):
        if pod.host_network and pod.node:
            for d, other in enumerate(resolved.pods):
                if other.node == pod.node:
                    diag[s] |= 1 << d

    rows: dict[PortKey, list[int]] = {}
    for port, proto in keys:
        ing = [open_in] * len(in_sig_list)
        for r, rule in enumerate(in_rules):
            dsts = resolved.selected[rule.policy] & resolved.port_pods(rule, port, proto)
            if dsts:
                for c in rule_in_classes[r]:
                    ing[c] |= dsts
        eg_dst = [rule.peer_pods & resolved.port_pods(rule, port, proto)
                  for rule in resolved.egress_rules]
        egr = []
        for sig in eg_sig_list:
            if not sig:
                egr.append(full)
                continue
            row = 0
            for pi in sig:
                for q in rules_of.get(pi, ()):
                    row |= eg_dst[q]
            egr.append(row)
        rows[(port, proto)] = [(ing[in_cls[s]] & egr[eg_cls[s]]) | diag[s] for s in range(n)]
    return TruthTable([p.key for p in resolved.pods], list(keys), rows)
