"""System objects every cluster gets after its nodes are Ready (applied by ``podnet up``).

The cluster DNS, laid out as kubeadm lays out CoreDNS: the Service
``kube-system/kube-dns`` at ``config.dns_service_ip`` (10.96.0.10) with ports
``dns`` (UDP 53) and ``dns-tcp`` (TCP 53), selecting ``k8s-app: kube-dns``, and
the Deployment ``kube-system/coredns`` (the name kubeadm gives it; 2 replicas)
whose pods run podnet's own server, ``python -m podnet.dns.server``, in place of
the CoreDNS image. Each replica lists + watches the API server through the
cluster's unix socket (mode 0600, so the container runs as root), serves the
zone ``config.dns_domain`` on 0.0.0.0:53 UDP+TCP inside its pod, forwards other
names to the node's resolvers (``dnsPolicy: Default``: never to itself), reports
``/ready`` on 8181 once its zone is synced (the readinessProbe) and ``/health``
on 8080 (the livenessProbe), and answers for 5 s after SIGTERM while its
endpoint leaves the Service (CoreDNS's ``lameduck 5s``), so deleting a replica
loses no query. Everything carries the label ``podnet.dev/addon: dns`` and the
annotation ``podnet.dev/description`` saying it is podnet's DNS.
"""

from __future__ import annotations

import sys

from podnet.api.config import ClusterConfig, apiserver_socket
from podnet.api.kinds import Obj

NAMESPACE = "kube-system"
SERVICE = "kube-dns"
DEPLOYMENT = "coredns"
APP_LABEL = {"k8s-app": "kube-dns"}
ADDON_LABEL = {"podnet.dev/addon": "dns"}
DESCRIPTION = {"podnet.dev/description": "podnet cluster DNS (python -m podnet.dns.server), "
                                         "deployed like CoreDNS; see docs/dns.md"}
IMAGE = "podnet.dev/dns:local"  # descriptive only: pods run the host's podnet, nothing is pulled
READY_PORT, HEALTH_PORT = 8181, 8080
LAMEDUCK = 5


def dns_command(config: ClusterConfig) -> list[str]:
    """The DNS container's command line."""
    return [sys.executable, "-m", "podnet.dns.server",
            "--listen", "0.0.0.0:53",
            "--apiserver-socket", str(apiserver_socket(config.name)),
            "--zone", config.dns_domain,
            "--health-listen", f"0.0.0.0:{READY_PORT}",
            "--lameduck", str(LAMEDUCK)]


def dns_service(config: ClusterConfig) -> Obj:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE,
                     "labels": {**APP_LABEL, **ADDON_LABEL, "kubernetes.io/name": "CoreDNS"},
                     "annotations": dict(DESCRIPTION)},
        "spec": {
            "selector": dict(APP_LABEL),
            "clusterIP": config.dns_service_ip,
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                      {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}],
        },
    }


def dns_deployment(config: ClusterConfig) -> Obj:
    container: Obj = {
        "name": "coredns",
        "image": IMAGE,
        "command": dns_command(config),
        "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                  {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                  {"name": "ready", "containerPort": READY_PORT, "protocol": "TCP"}],
        "securityContext": {"runAsUser": 0},  # the API server socket is 0600 root
        "readinessProbe": {"httpGet": {"path": "/ready", "port": READY_PORT},
                           "periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/health", "port": READY_PORT},
                          "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 5,
                          "failureThreshold": 5},
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE,
                     "labels": {**APP_LABEL, **ADDON_LABEL}, "annotations": dict(DESCRIPTION)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": dict(APP_LABEL)},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": {**APP_LABEL, **ADDON_LABEL}, "annotations": dict(DESCRIPTION)},
                "spec": {
                    "dnsPolicy": "Default",  # upstream = the node's resolv.conf, not itself
                    "terminationGracePeriodSeconds": LAMEDUCK + 5,
                    "containers": [container],
                },
            },
        },
    }


def manifests(config: ClusterConfig) -> list[Obj]:
    """The objects to apply for ``config`` (already valid, ready for ``apply_all``)."""
    return [dns_service(config), dns_deployment(config)]
