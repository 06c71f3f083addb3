"""Defaulting, as the Kubernetes API server fills in what a manifest leaves out.

``apply_defaults(obj)`` returns a defaulted deep copy: namespace "default" for
namespaced kinds, Service type/sessionAffinity/ports/traffic policies/IP
families, Pod (and pod template) restartPolicy/dnsPolicy/grace period/port
protocols, workload replicas and strategies, NetworkPolicy policyTypes and port
protocols, EndpointSlice port protocols. Values the object already has are
never changed; unknown fields are kept. Ingress pathType is not defaulted
(Kubernetes requires it).
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable
from typing import Any

from podnet.api.kinds import BY_KIND, Obj, meta


def _map(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]`` as a dict, created when missing (left alone when not a dict)."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = {}
    return value if isinstance(value, dict) else {}


def _items(parent: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = parent.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _image_pull_policy(image: Any) -> str:
    if not isinstance(image, str):
        return "IfNotPresent"
    name = image.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    return "Always" if "@" not in image and tag in ("", "latest") else "IfNotPresent"


def default_pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec and its containers."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    host_net = spec.get("hostNetwork") is True
    for ctr in _items(spec, "initContainers") + _items(spec, "containers"):
        ctr.setdefault("terminationMessagePath", "/dev/termination-log")
        ctr.setdefault("terminationMessagePolicy", "File")
        ctr.setdefault("imagePullPolicy", _image_pull_policy(ctr.get("image")))
        for port in _items(ctr, "ports"):
            port.setdefault("protocol", "TCP")
            if host_net and not port.get("hostPort") and port.get("containerPort"):
                port["hostPort"] = port["containerPort"]


def _default_template(spec: dict[str, Any]) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        default_pod_spec(_map(template, "spec"))


def _default_pod(obj: Obj) -> None:
    default_pod_spec(_map(obj, "spec"))


def _default_service(obj: Obj) -> None:
    spec = _map(obj, "spec")
    spec.setdefault("type", "ClusterIP")
    stype = spec["type"]
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        cfg = spec.get("sessionAffinityConfig")
        client = cfg.get("clientIP") if isinstance(cfg, dict) else None
        if not isinstance(client, dict) or client.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    for port in _items(spec, "ports"):
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, "") and port.get("port") is not None:
            port["targetPort"] = port["port"]
    external = stype in ("NodePort", "LoadBalancer") or (
        stype == "ClusterIP" and bool(spec.get("externalIPs")))
    if external:
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if stype in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if stype == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if stype == "ExternalName":
        return
    cluster_ip, cluster_ips = spec.get("clusterIP"), spec.get("clusterIPs")
    if cluster_ip and not cluster_ips:
        spec["clusterIPs"] = [cluster_ip]
    elif not cluster_ip and isinstance(cluster_ips, list) and cluster_ips:
        spec["clusterIP"] = cluster_ips[0]
    if "ipFamilies" not in spec:
        family = "IPv4"
        ips = spec.get("clusterIPs")
        first = ips[0] if isinstance(ips, list) and ips else None
        try:
            if isinstance(first, str) and ipaddress.ip_address(first).version == 6:
                family = "IPv6"
        except ValueError:
            pass
        spec["ipFamilies"] = [family]
    spec.setdefault("ipFamilyPolicy", "SingleStack")


def _default_deployment(obj: Obj) -> None:
    spec = _map(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _map(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _map(strategy, "rollingUpdate")
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_template(spec)


def _default_replicaset(obj: Obj) -> None:
    spec = _map(obj, "spec")
    spec.setdefault("replicas", 1)
    _default_template(spec)


def _default_statefulset(obj: Obj) -> None:
    spec = _map(obj, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _map(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {})
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        strategy["rollingUpdate"].setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = _map(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    _default_template(spec)


def _default_daemonset(obj: Obj) -> None:
    spec = _map(obj, "spec")
    strategy = _map(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _map(strategy, "rollingUpdate")
        ru.setdefault("maxUnavailable", 1)
        ru.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _default_template(spec)


def _default_networkpolicy(obj: Obj) -> None:
    spec = _map(obj, "spec")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    for direction in ("ingress", "egress"):
        for rule in _items(spec, direction):
            for port in _items(rule, "ports"):
                port.setdefault("protocol", "TCP")


def _default_endpointslice(obj: Obj) -> None:
    for port in _items(obj, "ports"):
        port.setdefault("name", "")
        port.setdefault("protocol", "TCP")


def _default_namespace(obj: Obj) -> None:
    name = meta(obj).get("name")
    if isinstance(name, str) and name:
        labels = _map(meta(obj), "labels")
        labels.setdefault("kubernetes.io/metadata.name", name)


def _default_secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")


DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "Namespace": _default_namespace,
    "Pod": _default_pod,
    "Service": _default_service,
    "Secret": _default_secret,
    "EndpointSlice": _default_endpointslice,
    "NetworkPolicy": _default_networkpolicy,
    "Deployment": _default_deployment,
    "ReplicaSet": _default_replicaset,
    "StatefulSet": _default_statefulset,
    "DaemonSet": _default_daemonset,
}


def apply_defaults(obj: Obj) -> Obj:
    """A defaulted deep copy of ``obj`` (the input is not modified)."""
    out = copy.deepcopy(obj)
    info = BY_KIND.get(str(out.get("kind", "")))
    if info is None or not isinstance(out.get("metadata", {}), dict):
        return out
    md = meta(out)
    if info.namespaced:
        if not md.get("namespace"):
            md["namespace"] = "default"
    else:
        md.pop("namespace", None)  # kubectl drops it for cluster-scoped kinds
    if isinstance(out.get("spec", {}), dict):
        defaulter = DEFAULTERS.get(info.kind)
        if defaulter is not None:
            defaulter(out)
    return out
