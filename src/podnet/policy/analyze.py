"""Offline analysis entry points: ``podnet analyze`` and ``podnet explain -f``.

``analyze`` takes plain object lists (Pods, Namespaces, NetworkPolicies,
Services, optionally Nodes) and returns the truth table plus lint warnings.
``analyze_paths`` / ``explain_paths`` read manifests or a ``kubectl get -o
yaml`` dump through ``podnet.offline.load`` first. ``parse_ports`` and
``parse_protocols`` read the CLI's ``--ports 80,81`` and ``--protocols TCP,UDP``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from podnet.api.kinds import Obj
from podnet.policy.explain import explain
from podnet.policy.lint import LintWarning, lint
from podnet.policy.model import PROTOCOLS
from podnet.policy.resolve import Resolved, resolve
from podnet.policy.semantics import Verdict
from podnet.policy.table import TruthTable, default_keys, truth_table

if TYPE_CHECKING:
    from podnet.offline import ClusterState


@dataclass
class Analysis:
    table: TruthTable
    warnings: list[LintWarning]
    resolved: Resolved
    load_warnings: list[str] = field(default_factory=list)


def analyze(
    pods: Sequence[Obj],
    namespaces: Sequence[Obj] = (),
    policies: Sequence[Obj] = (),
    services: Sequence[Obj] = (),
    ports: Sequence[int] | None = None,
    protocols: Sequence[str] | None = None,
    nodes: Sequence[Obj] = (),
    ip_blocks_match_pods: bool = True,
) -> Analysis:
    """Truth table over every pod pair for ``ports`` x ``protocols`` (default: the
    declared containerPorts) and lint warnings."""
    resolved = resolve(pods, namespaces, policies, nodes, ip_blocks_match_pods)
    table = truth_table(resolved, default_keys(resolved, ports, protocols))
    return Analysis(table, lint(resolved, services), resolved)


def _load(paths: Sequence[str]) -> ClusterState:
    from podnet import offline  # imported late: it pulls in the controllers

    return offline.load(list(paths))


def analyze_paths(paths: Sequence[str], ports: Sequence[int] | None = None,
                  protocols: Sequence[str] | None = None) -> Analysis:
    state = _load(paths)
    result = analyze(state.pods, state.namespaces, state.network_policies, state.services,
                     ports, protocols, state.nodes)
    result.load_warnings = [str(w) for w in state.warnings]
    return result


def explain_paths(paths: Sequence[str], src: str, target: str) -> list[Verdict]:
    state = _load(paths)
    resolved = resolve(state.pods, state.namespaces, state.network_policies, state.nodes)
    return explain(resolved, src, target)


def parse_ports(text: str | None) -> list[int] | None:
    """``"80,81,8000-8002"`` -> [80, 81, 8000, 8001, 8002]; None stays None."""
    if text is None:
        return None
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise ValueError(f"bad port {part!r}: use numbers like 80,81 or 8000-8010")
        first, last = int(lo), int(hi or lo)
        if not 0 < first <= last < 65536:
            raise ValueError(f"bad port range {part!r}")
        out.extend(range(first, last + 1))
    return out


def parse_protocols(text: str | None) -> list[str] | None:
    if text is None:
        return None
    out = [p.strip().upper() for p in text.split(",") if p.strip()]
    bad = [p for p in out if p not in PROTOCOLS]
    if bad or not out:
        raise ValueError(f"bad protocol(s) {bad or text!r}: use {', '.join(PROTOCOLS)}")
    return out
