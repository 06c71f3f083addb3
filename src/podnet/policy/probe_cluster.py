"""``podnet probe`` against a running cluster: read the objects, probe, predict, compare.

The objects come from the API server (any client with the ``Store``-like
``list``): Pods (their real IPs), Namespaces, NetworkPolicies, Services and
Nodes. The live table is ``probe.probe`` from inside each pod's namespace
(``pn-<cluster>-<ns>.<pod>``); the prediction is ``analyze.analyze`` over the
very same objects and keys, so the two are comparable cell by cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from podnet.agent.paths import pod_netns_name
from podnet.api.kinds import Obj, namespace_of
from podnet.policy.analyze import analyze
from podnet.policy.model import PodInfo
from podnet.policy.probe import ProbeResult, differences, probe
from podnet.policy.resolve import resolve
from podnet.policy.table import TruthTable, default_keys

RESOURCES = ("pods", "namespaces", "networkpolicies", "services", "nodes")


@dataclass
class Report:
    live: ProbeResult
    offline: TruthTable | None = None
    diffs: list[tuple[str, str, int, str, bool, bool]] = field(default_factory=list)


async def fetch(client: Any) -> dict[str, list[Obj]]:
    """Every object probe and the prediction need, listed once."""
    out: dict[str, list[Obj]] = {}
    for r in RESOURCES:
        out[r], _ = await client.list(r)
    return out


def in_namespaces(objs: Sequence[Obj], namespaces: Sequence[str] | None) -> list[Obj]:
    if not namespaces:
        return list(objs)
    return [o for o in objs if (namespace_of(o) or "default") in namespaces]


async def probe_cluster(
    cluster: str,
    objects: dict[str, list[Obj]],
    namespaces: Sequence[str] | None = None,
    ports: Sequence[int] | None = None,
    protocols: Sequence[str] | None = None,
    compare: bool = False,
    timeout: float = 1.0,
    attempts: int = 1,
) -> Report:
    """Probe the pods of ``namespaces`` (all when empty) to each other; optionally predict too."""
    pods = [p for p in in_namespaces(objects["pods"], namespaces)
            if (p.get("status") or {}).get("phase") == "Running"
            and not (p.get("metadata") or {}).get("deletionTimestamp")]
    keys = default_keys(resolve(pods), ports, protocols)

    def netns_of(pod: PodInfo) -> str:
        return pod_netns_name(cluster, pod.namespace, pod.name)

    live = await probe(pods, objects["services"], keys, netns_of, timeout, attempts)
    report = Report(live)
    if compare:
        ports_ = sorted({k[0] for k in keys})
        protos = sorted({k[1] for k in keys})
        offline = analyze(pods, objects["namespaces"], objects["networkpolicies"],
                          objects["services"], ports_, protos, objects["nodes"]).table
        report.offline = offline
        report.diffs = differences(live.table, offline)
    return report
