"""Builders for Service and EndpointSlice dicts, for tests, benchmarks and examples.

They produce what the API server stores after defaulting, with only the fields
the proxy reads, so a test reads like a manifest::

    svc = service("web", "10.96.0.5", [port(80, target=8080)], type="NodePort")
    sl = endpoint_slice("web", [ep("10.244.1.2", "node-1")], [slice_port(8080)])
"""

from __future__ import annotations

from typing import Any

from podnet.api.kinds import Obj


def port(
    number: int, protocol: str = "TCP", name: str = "", target: int | str | None = None,
    node_port: int | None = None,
) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "port": number, "protocol": protocol,
                         "targetPort": target if target is not None else number}
    if node_port is not None:
        p["nodePort"] = node_port
    return p


def service(
    name: str, cluster_ip: str, ports: list[dict[str, Any]], namespace: str = "default",
    labels: dict[str, str] | None = None, lb_ips: list[str] | None = None, **spec: Any,
) -> Obj:
    """A Service; ``spec`` keys are Kubernetes field names (type=, externalIPs=, ...)."""
    body: dict[str, Any] = {"type": "ClusterIP", "sessionAffinity": "None",
                            "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": ports}
    body.update(spec)
    svc: Obj = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": body,
    }
    if lb_ips:
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in lb_ips]}}
    return svc


def ep(
    ip: str, node: str = "node-1", ready: bool = True, serving: bool | None = None,
    terminating: bool = False,
) -> dict[str, Any]:
    return {
        "addresses": [ip], "nodeName": node,
        "conditions": {"ready": ready, "serving": ready if serving is None else serving,
                       "terminating": terminating},
    }


def slice_port(number: int, protocol: str = "TCP", name: str = "") -> dict[str, Any]:
    return {"name": name, "port": number, "protocol": protocol}


def endpoint_slice(
    service_name: str, endpoints: list[dict[str, Any]], ports: list[dict[str, Any]],
    namespace: str = "default", name: str | None = None, labels: dict[str, str] | None = None,
) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": name or f"{service_name}-abcde", "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name, **(labels or {})},
        },
        "addressType": "IPv4", "endpoints": endpoints, "ports": ports,
    }
