"""Lint: policies and Services that are valid YAML but almost certainly not what was meant.

Each warning names the object and says what is wrong:

- a NetworkPolicy that selects no pod;
- a peer (podSelector / namespaceSelector) that selects no pod, or a peer with
  neither selectors nor ipBlock (invalid: it matches nothing);
- a named port that no container of the pods it could apply to defines with
  that protocol (ingress: the policy's pods; egress: the rule's peer pods);
- an ``endPort`` below ``port``;
- a Service whose selector selects no pod;
- a Service ``targetPort`` name that a selected pod does not define.

ipBlocks matching no pod are normal (outside addresses) and not reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from podnet.api.kinds import Obj, name_of, namespace_of
from podnet.api.selectors import from_match_labels
from podnet.policy.labelindex import LabelIndex, members
from podnet.policy.model import PROTOCOLS
from podnet.policy.resolve import Resolved


@dataclass(frozen=True)
class LintWarning:
    kind: str
    name: str  # ns/name
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.message}"


def lint_policies(resolved: Resolved) -> list[LintWarning]:
    out: list[LintWarning] = []
    for pi, pol in enumerate(resolved.policies):
        def warn(msg: str, key: str = pol.key) -> None:
            out.append(LintWarning("NetworkPolicy", key, msg))

        if not resolved.selected[pi]:
            warn(f"podSelector {{{pol.pod_selector}}} selects no pod in namespace {pol.namespace}")
        for rule in [*resolved.ingress_rules, *resolved.egress_rules]:
            if rule.policy != pi:
                continue
            where = f"{rule.direction} rule {rule.index + 1}"
            for k, rp in enumerate(rule.peers):
                if not rp.peer.valid:
                    warn(f"{where} peer {k + 1}: {rp.peer}")
                elif rp.peer.ip_block is None and not rp.pods:
                    warn(f"{where} peer {k + 1} ({rp.peer}) selects no pod")
            applies_to = resolved.selected[pi] if rule.direction == "ingress" else rule.peer_pods
            for spec in rule.rule.ports:
                if isinstance(spec.port, str):
                    protos = [p for p in PROTOCOLS
                              if resolved.named_port_pods(spec.port, p) & applies_to]
                    if spec.protocol not in protos:
                        have = f" (defined for {', '.join(protos)} only)" if protos else ""
                        warn(f"{where}: named port {spec.port}/{spec.protocol} is defined by no "
                             f"container of the pods it applies to{have}")
                elif isinstance(spec.port, int) and spec.end_port is not None \
                        and spec.end_port < spec.port:
                    warn(f"{where}: endPort {spec.end_port} is below port {spec.port}")
    return out


def lint_services(resolved: Resolved, services: Sequence[Obj]) -> list[LintWarning]:
    out: list[LintWarning] = []
    index = LabelIndex([p.labels for p in resolved.pods], resolved.selectable)
    for svc in services:
        spec = svc.get("spec") or {}
        ns = namespace_of(svc) or "default"
        key = f"{ns}/{name_of(svc)}"
        if spec.get("type") == "ExternalName" or not spec.get("selector"):
            continue  # no selector: endpoints are managed by hand
        selector = from_match_labels(spec["selector"])
        pods = index.match(selector) & resolved.namespace_pods(ns)
        if not pods:
            out.append(LintWarning("Service", key, f"selector {{{selector}}} selects no pod"))
            continue
        for port in spec.get("ports") or []:
            target = port.get("targetPort")
            if not isinstance(target, str) or target.isdigit():
                continue
            proto = str(port.get("protocol") or "TCP").upper()
            missing = [resolved.pods[i].key for i in members(pods)
                       if resolved.pods[i].named_port(target, proto) is None]
            if missing:
                shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
                out.append(LintWarning(
                    "Service", key,
                    f"targetPort {target!r}/{proto} is not a named containerPort of {shown}"))
    return out


def lint(resolved: Resolved, services: Sequence[Obj] = ()) -> list[LintWarning]:
    """All warnings, policies first."""
    return lint_policies(resolved) + lint_services(resolved, services)
