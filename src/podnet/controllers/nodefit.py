"""Whether a pod may run on a node: nodeSelector, required node affinity, taints.

Shared by the scheduler and the DaemonSet controller. Each check returns the
reason a node is rejected in the words Kubernetes' scheduler uses in its
"0/3 nodes are available: ..." message, or ``None`` when the node fits.
"""

from __future__ import annotations

from typing import Any

from podnet.api.kinds import Obj, labels_of
from podnet.api.selectors import Requirement, Selector, from_match_labels
from podnet.controllers.podutil import node_ready

NOT_READY = "node(s) were not ready"
UNSCHEDULABLE = "node(s) were unschedulable"
SELECTOR_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
TAINTED = "node(s) had untolerated taint"

# Tolerations every DaemonSet pod gets (as the DaemonSet controller adds them).
DAEMON_TOLERATIONS: tuple[dict[str, Any], ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)


def _term_selector(term: dict[str, Any]) -> Selector:
    reqs = [
        Requirement(str(e.get("key", "")), str(e.get("operator", "")),
                    tuple(str(v) for v in e.get("values") or []))
        for e in term.get("matchExpressions") or []
    ]
    return Selector(tuple(reqs))


def matches_affinity(pod_spec: dict[str, Any], node: Obj) -> bool:
    """nodeSelector (all must match) and required node affinity (any term must match)."""
    labels = labels_of(node)
    sel = pod_spec.get("nodeSelector") or {}
    if sel and not from_match_labels(sel).matches(labels):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if terms:
        usable = [t for t in terms if t.get("matchExpressions")]
        return any(_term_selector(t).matches(labels) for t in usable)
    return True


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for t in tolerations:
        effect = t.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key = t.get("key") or ""
        if key and key != taint.get("key"):
            continue
        if (t.get("operator") or "Equal") == "Exists":
            return True
        if (t.get("value") or "") == (taint.get("value") or "") and key:
            return True
    return False


def untolerated_taint(pod_spec: dict[str, Any], node: Obj,
                      extra: tuple[dict[str, Any], ...] = ()) -> dict[str, Any] | None:
    tolerations = list(pod_spec.get("tolerations") or []) + list(extra)
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not tolerates(tolerations, taint):
            return dict(taint)
    return None


def misfit(pod_spec: dict[str, Any], node: Obj) -> str | None:
    """Why the scheduler cannot put a pod with ``pod_spec`` on ``node`` (None: it fits)."""
    if not node_ready(node):
        return NOT_READY
    if (node.get("spec") or {}).get("unschedulable"):
        return UNSCHEDULABLE
    if not matches_affinity(pod_spec, node):
        return SELECTOR_MISMATCH
    taint = untolerated_taint(pod_spec, node)
    if taint is not None:
        value = f": {taint['value']}" if taint.get("value") else ""
        return f"{TAINTED} {{{taint.get('key', '')}{value}}}"
    return None


def daemon_fits(pod_spec: dict[str, Any], node: Obj) -> bool:
    """Whether a DaemonSet should run a pod on ``node`` (readiness and cordons ignored)."""
    return matches_affinity(pod_spec, node) and untolerated_taint(
        pod_spec, node, DAEMON_TOLERATIONS) is None
