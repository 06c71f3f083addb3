"""Validation of apps/v1 workloads: Deployment, ReplicaSet, StatefulSet, DaemonSet.

Follows Kubernetes' apps validation: a non-empty selector that matches the
pod template's labels, replicas >= 0, strategies, and the pod template itself
(restartPolicy Always).
"""

from __future__ import annotations

import re
from typing import Any

from podnet.api.kinds import Obj
from podnet.api.selectors import from_label_selector
from podnet.api.validate_common import (
    Errs,
    GoValue,
    child,
    go_repr,
    validate_label_selector,
    validate_metadata,
)
from podnet.api.validate_core import validate_pod_template
from podnet.api.validate_messages import dns1035_label_errors, dns1123_subdomain_errors

_PERCENT = re.compile(r"^[0-9]+%$")


def _go_selector(sel: dict[str, Any]) -> GoValue:
    labels = sel.get("matchLabels")
    shown = go_repr(labels) if labels else "map[string]string(nil)"
    return GoValue(f"v1.LabelSelector{{MatchLabels:{shown}, "
                   "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}")


def _validate_selector_and_template(spec: dict[str, Any], kind: str, errs: Errs) -> None:
    """The selector rules shared by all four workloads, then the pod template."""
    sel = spec.get("selector")
    before = len(errs)
    if sel is None:
        errs.required("spec.selector")
    else:
        validate_label_selector(sel, "spec.selector", errs)
    malformed = sel is not None and len(errs) > before
    empty = isinstance(sel, dict) and not sel.get("matchLabels") and not sel.get(
        "matchExpressions")
    if not malformed and empty and isinstance(sel, dict):
        errs.invalid("spec.selector", _go_selector(sel),
                     f"empty selector is invalid for {kind.lower()}")
    if spec.get("template") is None:
        errs.required("spec.template")
        return
    template = spec["template"]
    md = template.get("metadata") if isinstance(template, dict) else None
    labels = md.get("labels") if isinstance(md, dict) else None
    if not malformed and isinstance(labels, dict | None):
        selector = from_label_selector(sel)
        if not selector.empty and not selector.matches(labels):
            errs.invalid("spec.template.metadata.labels",
                         labels or GoValue("map[string]string(nil)"),
                         "`selector` does not match template `labels`")
    pod = validate_pod_template(template, "spec.template", errs).get("spec")
    pod = pod if isinstance(pod, dict) else {}
    restart = pod.get("restartPolicy")
    if restart and restart != "Always":
        errs.not_supported("spec.template.spec.restartPolicy", restart, ("Always",))
    if pod.get("activeDeadlineSeconds") is not None:
        errs.forbidden("spec.template.spec.activeDeadlineSeconds",
                       f"activeDeadlineSeconds in {kind} is not Supported")


def _int_or_percent(value: Any, path: str, errs: Errs) -> int | None:
    """ValidatePositiveIntOrPercent; returns the number (percent or count) when valid."""
    v = errs.int_or_str(value, path)
    if isinstance(v, str):
        if not _PERCENT.match(v):
            errs.invalid(path, v, "a valid percent string must be a numeric string followed "
                         "by an ending '%' (e.g. '1%',  or '93%', regex used for validation "
                         "is '[0-9]+%')")
            return None
        return int(v[:-1])
    if isinstance(v, int) and v < 0:
        errs.invalid(path, v, "must be greater than or equal to 0")
    return v


def _validate_rolling(ru: Any, path: str, errs: Errs) -> None:
    ru = errs.as_map(ru, path)
    unavailable = _int_or_percent(ru.get("maxUnavailable"), child(path, "maxUnavailable"), errs)
    surge = _int_or_percent(ru.get("maxSurge"), child(path, "maxSurge"), errs)
    if isinstance(ru.get("maxUnavailable"), str) and unavailable is not None and unavailable > 100:
        errs.invalid(child(path, "maxUnavailable"), ru["maxUnavailable"],
                     "must not be greater than 100%")
    if unavailable == 0 and surge == 0:
        errs.invalid(child(path, "maxUnavailable"), ru.get("maxUnavailable"),
                     "may not be 0 when `maxSurge` is 0")


def validate_deployment(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, True, dns1123_subdomain_errors, errs)
    spec = errs.as_map(obj.get("spec"), "spec")
    errs.nonnegative(spec.get("replicas"), "spec.replicas")
    _validate_selector_and_template(spec, "Deployment", errs)
    strategy = errs.as_map(spec.get("strategy"), "spec.strategy")
    stype = strategy.get("type")
    if stype == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            errs.forbidden("spec.strategy.rollingUpdate",
                           "may not be specified when strategy `type` is 'Recreate'")
    elif stype == "RollingUpdate":
        if strategy.get("rollingUpdate") is None:
            errs.required("spec.strategy.rollingUpdate",
                          "this should be defaulted and never be nil")
        else:
            _validate_rolling(strategy["rollingUpdate"], "spec.strategy.rollingUpdate", errs)
    else:
        errs.not_supported("spec.strategy.type", stype, ("Recreate", "RollingUpdate"))
    errs.nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    errs.nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    deadline = errs.as_int(spec.get("progressDeadlineSeconds"), "spec.progressDeadlineSeconds")
    if deadline is not None:
        errs.nonnegative(deadline, "spec.progressDeadlineSeconds")
        min_ready = spec.get("minReadySeconds")
        if deadline <= (min_ready if isinstance(min_ready, int) else 0):
            errs.invalid("spec.progressDeadlineSeconds", deadline,
                         "must be greater than minReadySeconds")


def validate_replicaset(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, True, dns1123_subdomain_errors, errs)
    spec = errs.as_map(obj.get("spec"), "spec")
    errs.nonnegative(spec.get("replicas"), "spec.replicas")
    errs.nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    # Kubernetes says "deployment" here too.
    _validate_selector_and_template(spec, "Deployment", errs)


def validate_statefulset(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, True, dns1123_subdomain_errors, errs)
    spec = errs.as_map(obj.get("spec"), "spec")
    policy = spec.get("podManagementPolicy")
    if not policy:
        errs.required("spec.podManagementPolicy")
    elif policy not in ("OrderedReady", "Parallel"):
        errs.invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'")
    strategy = errs.as_map(spec.get("updateStrategy"), "spec.updateStrategy")
    stype = strategy.get("type")
    if not stype:
        errs.required("spec.updateStrategy")
    elif stype == "OnDelete" and strategy.get("rollingUpdate") is not None:
        errs.invalid("spec.updateStrategy.rollingUpdate", strategy["rollingUpdate"],
                     "only allowed for updateStrategy 'RollingUpdate'")
    elif stype not in ("OnDelete", "RollingUpdate"):
        errs.invalid("spec.updateStrategy", strategy, "must be 'RollingUpdate' or 'OnDelete'")
    errs.nonnegative(spec.get("replicas"), "spec.replicas")
    errs.nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    service = spec.get("serviceName")
    if service:
        service = errs.as_str(service, "spec.serviceName")
        errs.each("spec.serviceName", service, dns1035_label_errors(service))
    _validate_selector_and_template(spec, "StatefulSet", errs)


def validate_daemonset(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, True, dns1123_subdomain_errors, errs)
    spec = errs.as_map(obj.get("spec"), "spec")
    _validate_selector_and_template(spec, "DaemonSet", errs)
    strategy = errs.as_map(spec.get("updateStrategy"), "spec.updateStrategy")
    stype = strategy.get("type")
    if stype not in ("OnDelete", "RollingUpdate"):
        errs.not_supported("spec.updateStrategy.type", stype, ("OnDelete", "RollingUpdate"))
    elif stype == "RollingUpdate" and strategy.get("rollingUpdate") is not None:
        _validate_rolling(strategy["rollingUpdate"], "spec.updateStrategy.rollingUpdate", errs)
    errs.nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
