"""The columns kubectl shows for each kind (``kubectl get`` and ``-o wide``), as pure
functions from an object to a cell's text.

Shared by the CLI's own tables (podnet.cli.output) and the API server's
``meta.k8s.io/v1`` Table answers (podnet.apiserver.table), so ``podnet get`` and
``kubectl get`` against podnet print the same thing.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from podnet.api.kinds import Obj, node_internal_ip


def age(obj: Obj, now: datetime.datetime | None = None) -> str:
    """kubectl's short age: 5s, 3m, 2h, 4d."""
    ts = (obj.get("metadata") or {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    when = datetime.datetime.strptime(str(ts), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    secs = int(((now or datetime.datetime.now(datetime.UTC)) - when).total_seconds())
    secs = max(secs, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size * (2 if unit != "d" else 1):
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _cond(obj: Obj, ctype: str) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return str(c.get("status"))
    return None


def _pod_status(pod: Obj) -> str:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    st = pod.get("status") or {}
    for cs in st.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(st.get("phase") or "Pending")


def _pod_ready(pod: Obj) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    return f"{ready}/{len(containers)}"


def _restarts(pod: Obj) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return str(sum(int(cs.get("restartCount") or 0) for cs in statuses))


def _svc_ports(svc: Obj) -> str:
    out = []
    for p in (svc.get("spec") or {}).get("ports") or []:
        s = str(p.get("port"))
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        out.append(f"{s}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _svc_external(svc: Obj) -> str:
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName", ""))
    ips = [i.get("ip") or i.get("hostname") for i in
           ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
    ips += list(spec.get("externalIPs") or [])
    if ips:
        return ",".join(str(i) for i in ips)
    return "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"


def _selector(m: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((m or {}).items())) or "<none>"


def _slice_endpoints(es: Obj) -> str:
    addrs = [a for e in es.get("endpoints") or [] for a in e.get("addresses") or []]
    if not addrs:
        return "<none>"
    shown = ",".join(addrs[:3])
    return shown + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")


def _node_status(node: Obj) -> str:
    ready = _cond(node, "Ready")
    s = "Ready" if ready == "True" else "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        s += ",SchedulingDisabled"
    return s


def _node_ip(node: Obj) -> str:
    return node_internal_ip(node) or "<none>"


def _spec(o: Obj) -> dict[str, Any]:
    return o.get("spec") or {}


def _status(o: Obj) -> dict[str, Any]:
    return o.get("status") or {}


Column = tuple[str, Callable[[Obj], str]]

COLUMNS: dict[str, list[Column]] = {
    "pods": [("READY", _pod_ready), ("STATUS", _pod_status), ("RESTARTS", _restarts)],
    "services": [
        ("TYPE", lambda o: str(_spec(o).get("type", "ClusterIP"))),
        ("CLUSTER-IP", lambda o: str(_spec(o).get("clusterIP") or "<none>")),
        ("EXTERNAL-IP", _svc_external),
        ("PORT(S)", _svc_ports),
    ],
    "endpointslices": [
        ("ADDRESSTYPE", lambda o: str(o.get("addressType", ""))),
        ("PORTS", lambda o: ",".join(str(p.get("port", "")) for p in o.get("ports") or []) or "<unset>"),
        ("ENDPOINTS", _slice_endpoints),
    ],
    "deployments": [
        ("READY", lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 1)}"),
        ("UP-TO-DATE", lambda o: str(_status(o).get("updatedReplicas", 0))),
        ("AVAILABLE", lambda o: str(_status(o).get("availableReplicas", 0))),
    ],
    "replicasets": [
        ("DESIRED", lambda o: str(_spec(o).get("replicas", 1))),
        ("CURRENT", lambda o: str(_status(o).get("replicas", 0))),
        ("READY", lambda o: str(_status(o).get("readyReplicas", 0))),
    ],
    "statefulsets": [
        ("READY", lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 1)}"),
    ],
    "daemonsets": [
        ("DESIRED", lambda o: str(_status(o).get("desiredNumberScheduled", 0))),
        ("CURRENT", lambda o: str(_status(o).get("currentNumberScheduled", 0))),
        ("READY", lambda o: str(_status(o).get("numberReady", 0))),
        ("NODE SELECTOR", lambda o: _selector(_spec(_spec(o).get("template") or {}).get("nodeSelector"))),
    ],
    "nodes": [("STATUS", _node_status), ("ROLES", lambda o: "<none>")],
    "namespaces": [("STATUS", lambda o: str(_status(o).get("phase", "Active")))],
    "networkpolicies": [
        ("POD-SELECTOR", lambda o: _selector((_spec(o).get("podSelector") or {}).get("matchLabels"))),
    ],
    "ingresses": [
        ("CLASS", lambda o: str(_spec(o).get("ingressClassName") or "<none>")),
        ("HOSTS", lambda o: ",".join(str(r.get("host", "*")) for r in _spec(o).get("rules") or []) or "*"),
        ("ADDRESS", lambda o: ",".join(str(i.get("ip", "")) for i in
                                       (_status(o).get("loadBalancer") or {}).get("ingress") or [])),
        ("PORTS", lambda o: "80, 443" if _spec(o).get("tls") else "80"),
    ],
    "configmaps": [("DATA", lambda o: str(len(o.get("data") or {}) + len(o.get("binaryData") or {})))],
    "secrets": [("TYPE", lambda o: str(o.get("type", "Opaque"))),
                ("DATA", lambda o: str(len(o.get("data") or {})))],
}

WIDE: dict[str, list[Column]] = {
    "pods": [("IP", lambda o: str(_status(o).get("podIP") or "<none>")),
             ("NODE", lambda o: str(_spec(o).get("nodeName") or "<none>"))],
    "services": [("SELECTOR", lambda o: _selector(_spec(o).get("selector")))],
    "nodes": [("INTERNAL-IP", _node_ip), ("POD-CIDR", lambda o: str(_spec(o).get("podCIDR") or "<none>"))],
    "deployments": [("SELECTOR", lambda o: _selector((_spec(o).get("selector") or {}).get("matchLabels")))],
}
