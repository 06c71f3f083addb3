"""Defaulting as the Kubernetes API server does it."""

from __future__ import annotations

import copy

from podnet.api.defaults import apply_defaults
from podnet.api.kinds import Obj
from podnet.api.validation import validate


def svc(spec: dict) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}


def test_input_is_not_modified_and_namespace_defaults() -> None:
    obj = svc({"ports": [{"port": 80}]})
    before = copy.deepcopy(obj)
    out = apply_defaults(obj)
    assert obj == before
    assert out["metadata"]["namespace"] == "default"
    ns = apply_defaults({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": "team", "namespace": "ignored"}})
    assert "namespace" not in ns["metadata"]
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}


def test_cluster_ip_service() -> None:
    out = apply_defaults(svc({"selector": {"a": "b"}, "ports": [{"port": 80}]}))
    assert out["spec"] == {
        "selector": {"a": "b"},
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
    }
    assert validate(out) == []


def test_cluster_ips_mirror_cluster_ip_both_ways() -> None:
    one = apply_defaults(svc({"clusterIP": "10.96.0.20", "ports": [{"port": 80}]}))
    assert one["spec"]["clusterIPs"] == ["10.96.0.20"]
    two = apply_defaults(svc({"clusterIPs": ["10.96.0.21"], "ports": [{"port": 80}]}))
    assert two["spec"]["clusterIP"] == "10.96.0.21"
    v6 = apply_defaults(svc({"clusterIP": "fd00:10:96::5", "ports": [{"port": 80}]}))
    assert v6["spec"]["ipFamilies"] == ["IPv6"]


def test_node_port_and_load_balancer() -> None:
    np = apply_defaults(svc({"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]}))
    assert np["spec"]["externalTrafficPolicy"] == "Cluster"
    assert np["spec"]["ports"][0]["targetPort"] == "http"
    assert "allocateLoadBalancerNodePorts" not in np["spec"]
    lb = apply_defaults(svc({"type": "LoadBalancer", "ports": [{"port": 443}]}))
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True
    assert lb["spec"]["externalTrafficPolicy"] == "Cluster"
    assert validate(np) == [] and validate(lb) == []


def test_external_name_gets_no_ip_fields() -> None:
    out = apply_defaults(svc({"type": "ExternalName", "externalName": "db.example.com"}))
    assert out["spec"] == {"type": "ExternalName", "externalName": "db.example.com",
                           "sessionAffinity": "None"}
    assert validate(out) == []


def test_session_affinity() -> None:
    client = apply_defaults(svc({"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}))
    assert client["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    kept = apply_defaults(svc({"sessionAffinity": "ClientIP", "ports": [{"port": 80}],
                               "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}))
    assert kept["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] == 60
    none = apply_defaults(svc({"ports": [{"port": 80}],
                               "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}))
    assert "sessionAffinityConfig" not in none["spec"]


def pod_spec() -> dict:
    return {"containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 80}]},
                           {"name": "side", "image": "busybox:1.36@sha256:abc"}]}


def test_pod() -> None:
    out = apply_defaults({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                          "spec": pod_spec()})
    spec = out["spec"]
    assert {k: spec[k] for k in ("restartPolicy", "dnsPolicy", "terminationGracePeriodSeconds",
                                 "schedulerName", "enableServiceLinks")} == {
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
        "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler",
        "enableServiceLinks": True}
    app, side = spec["containers"]
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert app["imagePullPolicy"] == "Always"  # no tag means :latest
    assert side["imagePullPolicy"] == "IfNotPresent"
    assert validate(out) == []


def test_host_network_pod_gets_host_ports() -> None:
    spec = pod_spec() | {"hostNetwork": True}
    out = apply_defaults({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                          "spec": spec})
    assert out["spec"]["containers"][0]["ports"][0]["hostPort"] == 80


def workload(kind: str, spec: dict | None = None) -> Obj:
    base = {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": pod_spec()}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w"},
            "spec": base | (spec or {})}


def test_deployment() -> None:
    out = apply_defaults(workload("Deployment"))
    spec = out["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert spec["template"]["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"
    assert validate(out) == []
    recreate = apply_defaults(workload("Deployment", {"strategy": {"type": "Recreate"},
                                                      "replicas": 0}))
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}
    assert recreate["spec"]["replicas"] == 0


def test_replicaset_statefulset_daemonset() -> None:
    rs = apply_defaults(workload("ReplicaSet"))
    assert rs["spec"]["replicas"] == 1 and validate(rs) == []
    sts = apply_defaults(workload("StatefulSet", {"serviceName": "w"}))
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady"
    assert sts["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                             "rollingUpdate": {"partition": 0}}
    assert validate(sts) == []
    ds = apply_defaults(workload("DaemonSet"))
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert "replicas" not in ds["spec"] and validate(ds) == []


def test_network_policy_types_and_protocols() -> None:
    def np(spec: dict) -> Obj:
        return apply_defaults({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                               "metadata": {"name": "n"}, "spec": {"podSelector": {}} | spec})
    assert np({})["spec"]["policyTypes"] == ["Ingress"]
    both = np({"ingress": [{"ports": [{"port": 80}]}], "egress": [{"ports": [{"port": 53}]}]})
    assert both["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert both["spec"]["ingress"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert both["spec"]["egress"][0]["ports"] == [{"port": 53, "protocol": "TCP"}]
    explicit = np({"policyTypes": ["Egress"], "ingress": [{}]})
    assert explicit["spec"]["policyTypes"] == ["Egress"]


def test_endpointslice_ingress_secret() -> None:
    eps = apply_defaults({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                          "metadata": {"name": "e"}, "addressType": "IPv4",
                          "ports": [{"port": 80}]})
    assert eps["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    ing = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"},
           "spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {}}]}}]}}
    assert "pathType" not in apply_defaults(ing)["spec"]["rules"][0]["http"]["paths"][0]
    secret = apply_defaults({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
    assert secret["type"] == "Opaque"


def test_existing_values_and_unknown_fields_are_kept() -> None:
    obj = svc({"type": "NodePort", "externalTrafficPolicy": "Local", "future": {"x": 1},
               "ports": [{"port": 80, "protocol": "UDP", "targetPort": 53}]})
    obj["metadata"]["namespace"] = "team"
    out = apply_defaults(obj)
    assert out["metadata"]["namespace"] == "team"
    assert out["spec"]["externalTrafficPolicy"] == "Local"
    assert out["spec"]["future"] == {"x": 1}
    assert out["spec"]["ports"] == [{"port": 80, "protocol": "UDP", "targetPort": 53}]


def test_defaulting_is_idempotent() -> None:
    for obj in (workload("Deployment"), workload("StatefulSet"), svc({"ports": [{"port": 1}]})):
        once = apply_defaults(obj)
        assert apply_defaults(once) == once


def test_malformed_objects_do_not_crash() -> None:
    for obj in (svc("nope"), svc({"ports": "x"}), {"kind": "Pod", "spec": {"containers": 3}},
                {"kind": "Deployment", "metadata": "x"}, {"kind": "Nope"}, {}):
        apply_defaults(obj)  # type: ignore[arg-type]
