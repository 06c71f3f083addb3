"""Service env vars, container env precedence, resolv.conf per dnsPolicy, /etc/hosts."""

import base64

import pytest

from podnet.agent.podenv import EnvError, container_env, hosts_file, resolv_conf, service_links


def _svc(ns: str, name: str, ip: str, ports: list[dict]) -> dict:
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"clusterIP": ip, "ports": ports}}


SERVICES = [
    _svc("default", "kubernetes", "10.96.0.1", [{"name": "https", "port": 443, "protocol": "TCP"}]),
    _svc("shop", "redis-primary", "10.96.0.20",
         [{"name": "redis", "port": 6379, "protocol": "TCP"}, {"name": "stats", "port": 9121, "protocol": "UDP"}]),
    _svc("shop", "headless", "None", [{"port": 80, "protocol": "TCP"}]),
    _svc("other", "elsewhere", "10.96.0.30", [{"port": 80, "protocol": "TCP"}]),
]


def test_service_links_match_kubelet_names() -> None:
    env = service_links(SERVICES, "shop")
    assert env["REDIS_PRIMARY_SERVICE_HOST"] == "10.96.0.20"
    assert env["REDIS_PRIMARY_SERVICE_PORT"] == "6379"
    assert env["REDIS_PRIMARY_SERVICE_PORT_REDIS"] == "6379"
    assert env["REDIS_PRIMARY_SERVICE_PORT_STATS"] == "9121"
    assert env["REDIS_PRIMARY_PORT"] == "tcp://10.96.0.20:6379"
    assert env["REDIS_PRIMARY_PORT_9121_UDP"] == "udp://10.96.0.20:9121"
    assert env["REDIS_PRIMARY_PORT_9121_UDP_PROTO"] == "udp"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_PORT"] == "6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_ADDR"] == "10.96.0.20"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert not any(k.startswith(("HEADLESS_", "ELSEWHERE_")) for k in env)


def test_enable_service_links_false_keeps_only_kubernetes() -> None:
    env = service_links(SERVICES, "shop", enable_links=False)
    assert "KUBERNETES_SERVICE_HOST" in env and "REDIS_PRIMARY_SERVICE_HOST" not in env


def test_container_env_precedence_and_refs() -> None:
    pod = {"metadata": {"name": "p", "namespace": "shop", "labels": {"app": "x"}},
           "spec": {"nodeName": "node-1"}, "status": {"podIP": "10.244.1.5"}}
    cms = {"cfg": {"metadata": {"namespace": "shop", "name": "cfg"}, "data": {"A": "1", "B": "2"}}}
    secrets = {"s": {"metadata": {"namespace": "shop", "name": "s"},
                     "data": {"TOKEN": base64.b64encode(b"t0p").decode()}}}
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "s"}, "prefix": "S_"}],
        "env": [
            {"name": "B", "value": "override"},
            {"name": "REDIS_PRIMARY_SERVICE_HOST", "value": "mine"},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "TOKEN"}}},
        ],
    }
    env = container_env(pod, container, SERVICES, cms, secrets)
    assert env["A"] == "1" and env["B"] == "override" and env["S_TOKEN"] == "t0p"
    assert env["REDIS_PRIMARY_SERVICE_HOST"] == "mine"
    assert (env["NODE"], env["IP"], env["APP"], env["KEY"]) == ("node-1", "10.244.1.5", "x", "t0p")
    with pytest.raises(EnvError, match='configmap "missing" not found'):
        container_env(pod, {"envFrom": [{"configMapRef": {"name": "missing"}}]}, [], cms, secrets)
    assert container_env(pod, {"envFrom": [{"configMapRef": {"name": "missing", "optional": True}}]},
                         [], cms, secrets) == {}


NODE_RESOLV = "# host\nnameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n"


def test_resolv_conf_policies() -> None:
    pod = {"metadata": {"namespace": "shop"}, "spec": {}}
    assert resolv_conf(pod, "10.96.0.10", "cluster.local", NODE_RESOLV) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\noptions ndots:5\n")
    pod["spec"] = {"dnsPolicy": "Default"}
    assert resolv_conf(pod, "10.96.0.10", "cluster.local", NODE_RESOLV) == (
        "search corp.example\nnameserver 192.0.2.53\noptions timeout:2\n")
    pod["spec"] = {"dnsPolicy": "ClusterFirst", "hostNetwork": True}
    assert "nameserver 192.0.2.53" in resolv_conf(pod, "10.96.0.10", "cluster.local", NODE_RESOLV)
    pod["spec"] = {"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": True}
    assert "nameserver 10.96.0.10" in resolv_conf(pod, "10.96.0.10", "cluster.local", NODE_RESOLV)
    pod["spec"] = {"dnsPolicy": "None", "dnsConfig": {
        "nameservers": ["1.1.1.1"], "searches": ["a.example"], "options": [{"name": "ndots", "value": "2"},
                                                                         {"name": "edns0"}]}}
    assert resolv_conf(pod, "10.96.0.10", "cluster.local", NODE_RESOLV) == (
        "search a.example\nnameserver 1.1.1.1\noptions ndots:2 edns0\n")


def test_hosts_file_fqdn_for_hostname_and_subdomain() -> None:
    pod = {"metadata": {"name": "web-0", "namespace": "shop"},
           "spec": {"hostname": "web-0", "subdomain": "web",
                    "hostAliases": [{"ip": "192.0.2.1", "hostnames": ["foo", "bar"]}]},
           "status": {"podIP": "10.244.1.7"}}
    text = hosts_file(pod, "cluster.local")
    assert "10.244.1.7\tweb-0.web.shop.svc.cluster.local\tweb-0\n" in text
    assert "192.0.2.1\tfoo\tbar\n" in text
    assert text.startswith("# Kubernetes-managed hosts file")


def test_builtin_server_ports() -> None:
    from podnet.agent.builtin import builtin_ports

    assert builtin_ports({"ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]}) == \
        ((80, "TCP"), (53, "UDP"))
    assert builtin_ports({"command": ["sleep", "1"]}) is None
    agn = "registry.k8s.io/e2e-test-images/agnhost:2.47"
    assert builtin_ports({"image": agn, "args": ["netexec", "--http-port=8083", "--udp-port=8084"]}) == \
        ((8083, "TCP"), (8084, "UDP"))
    assert builtin_ports({"image": agn, "args": ["serve-hostname", "--tcp", "--http=false", "--port", "80"]}) == \
        ((80, "TCP"),)
    assert builtin_ports({"image": agn, "args": ["serve-hostname", "--udp", "--http=false", "--port=81"]}) == \
        ((81, "UDP"),)
    assert builtin_ports({"image": agn, "args": ["pause"]}) is None
