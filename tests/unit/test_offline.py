"""The offline pipeline: manifests and cluster dumps -> a converged ClusterState."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from podnet.api.config import ClusterConfig
from podnet.api.errors import InvalidInput
from podnet.offline import ClusterState, load

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres, ports: [{containerPort: 5432}]}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      hostNetwork: true
      containers: [{name: a, image: agent}]
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def summary(state: ClusterState) -> dict[str, object]:
    return {
        "pods": sorted((p["metadata"]["namespace"], p["metadata"]["name"],
                        p["spec"].get("nodeName"), p["status"].get("podIP"))
                       for p in state.pods),
        "services": sorted((s["metadata"]["name"], s["spec"].get("clusterIP"))
                           for s in state.services),
        "slices": sorted((s["metadata"]["name"],
                          tuple(sorted(e["addresses"][0] for e in s["endpoints"])))
                         for s in state.endpoint_slices),
    }


def test_manifests_become_a_running_cluster(tmp_path: Path) -> None:
    state = load([write(tmp_path, "app.yaml", APP)])
    assert [n["metadata"]["name"] for n in state.nodes] == ["node-1", "node-2", "node-3"]
    names = {n["metadata"]["name"] for n in state.namespaces}
    assert {"default", "kube-system", "kube-public", "kube-node-lease", "shop"} <= names
    web = [p for p in state.pods if p["metadata"]["labels"].get("app") == "web"]
    assert len(web) == 3
    nodes = {n["metadata"]["name"]: n for n in state.nodes}
    for p in state.pods:
        st = p["status"]
        node = nodes[p["spec"]["nodeName"]]
        assert st["phase"] == "Running"
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in st["conditions"])
        if p["spec"].get("hostNetwork"):
            assert st["podIP"] == st["hostIP"]
        else:
            assert ipaddress.ip_address(st["podIP"]) in ipaddress.ip_network(
                node["spec"]["podCIDR"])
    assert len({p["status"]["podIP"] for p in state.pods if not p["spec"].get("hostNetwork")}) \
        == 6
    db = sorted(p["metadata"]["name"] for p in state.pods if p["metadata"]["name"][:3] == "db-")
    assert db == ["db-0", "db-1", "db-2"]
    agents = [p for p in state.pods if p["metadata"]["labels"].get("app") == "agent"]
    assert sorted(p["spec"]["nodeName"] for p in agents) == ["node-1", "node-2", "node-3"]
    svc = state.get("svc", "shop", "web")
    assert svc is not None
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
    kube = state.get("Service", "default", "kubernetes")
    assert kube is not None and kube["spec"]["clusterIP"] == "10.96.0.1"
    slices = [s for s in state.endpoint_slices
              if s["metadata"]["labels"]["kubernetes.io/service-name"] == "web"]
    assert sum(len(s["endpoints"]) for s in slices) == 3
    assert slices[0]["ports"][0]["port"] == 8080
    db_eps = [e for s in state.endpoint_slices
              if s["metadata"]["labels"]["kubernetes.io/service-name"] == "db"
              for e in s["endpoints"]]
    assert sorted(e["hostname"] for e in db_eps) == ["db-0", "db-1", "db-2"]
    assert state.get("po", "shop", "db-0") is not None
    assert state.warnings == []


def test_offline_load_is_deterministic(tmp_path: Path) -> None:
    path = write(tmp_path, "app.yaml", APP)
    first, second = load([path]), load([path])
    assert summary(first) == summary(second)


def test_nodes_from_the_input_are_used(tmp_path: Path) -> None:
    text = """
apiVersion: v1
kind: Node
metadata: {name: big, labels: {size: big}}
spec: {podCIDR: 10.244.7.0/24}
status: {addresses: [{type: InternalIP, address: 172.18.0.77}]}
---
apiVersion: v1
kind: Node
metadata: {name: small}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  nodeSelector: {size: big}
  containers: [{name: c, image: x}]
"""
    state = load([write(tmp_path, "nodes.yaml", text)], ClusterConfig())
    assert [n["metadata"]["name"] for n in state.nodes] == ["big", "small"]
    p = state.get("Pod", "default", "p")
    assert p is not None
    assert p["spec"]["nodeName"] == "big"
    assert p["status"]["podIP"] == "10.244.7.2" and p["status"]["hostIP"] == "172.18.0.77"
    small = state.get("Node", "", "small")
    assert small is not None and small["spec"]["podCIDR"] == "10.244.1.0/24"


DUMP = """
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: api, namespace: prod, uid: 11111111-0000-0000-0000-000000000001}
  spec:
    replicas: 2
    selector: {matchLabels: {app: api}}
    template:
      metadata: {labels: {app: api}}
      spec: {containers: [{name: api, image: "api:7", ports: [{name: web, containerPort: 80}]}]}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata:
    name: api-7c5ddbdf54
    namespace: prod
    uid: 11111111-0000-0000-0000-000000000002
    labels: {app: api, pod-template-hash: 7c5ddbdf54}
    annotations: {deployment.kubernetes.io/revision: "4"}
    ownerReferences:
    - {apiVersion: apps/v1, kind: Deployment, name: api, controller: true,
       uid: 11111111-0000-0000-0000-000000000001}
  spec:
    replicas: 2
    selector: {matchLabels: {app: api, pod-template-hash: 7c5ddbdf54}}
    template:
      metadata: {labels: {app: api, pod-template-hash: 7c5ddbdf54}}
      spec: {containers: [{name: api, image: "api:7", ports: [{name: web, containerPort: 80}]}]}
  status: {replicas: 2, readyReplicas: 2, availableReplicas: 2}
- apiVersion: v1
  kind: Pod
  metadata:
    name: api-7c5ddbdf54-x2kq9
    namespace: prod
    labels: {app: api, pod-template-hash: 7c5ddbdf54}
    ownerReferences:
    - {apiVersion: apps/v1, kind: ReplicaSet, name: api-7c5ddbdf54, controller: true,
       uid: 11111111-0000-0000-0000-000000000002}
  spec:
    nodeName: ip-10-0-1-5
    containers: [{name: api, image: "api:7", ports: [{name: web, containerPort: 80}]}]
  status:
    phase: Running
    hostIP: 10.0.1.5
    podIP: 100.64.3.17
    podIPs: [{ip: 100.64.3.17}]
    conditions: [{type: Ready, status: "True"}]
- apiVersion: v1
  kind: Pod
  metadata:
    name: api-7c5ddbdf54-m7wzp
    namespace: prod
    labels: {app: api, pod-template-hash: 7c5ddbdf54}
    ownerReferences:
    - {apiVersion: apps/v1, kind: ReplicaSet, name: api-7c5ddbdf54, controller: true,
       uid: 11111111-0000-0000-0000-000000000002}
  spec:
    nodeName: ip-10-0-1-6
    containers: [{name: api, image: "api:7", ports: [{name: web, containerPort: 80}]}]
  status:
    phase: Running
    hostIP: 10.0.1.6
    podIP: 100.64.4.2
    conditions: [{type: Ready, status: "False"}]
- apiVersion: v1
  kind: Service
  metadata: {name: api, namespace: prod}
  spec:
    clusterIP: 10.100.200.7
    clusterIPs: [10.100.200.7]
    selector: {app: api}
    ports: [{name: http, port: 80, targetPort: web}]
- apiVersion: v1
  kind: Service
  metadata: {name: legacy, namespace: prod}
  spec:
    clusterIP: 10.100.200.8
    selector: {app: legacy}
    ports: [{port: 80}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: legacy-abcde
    namespace: prod
    labels: {kubernetes.io/service-name: legacy,
             endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
  addressType: IPv4
  ports: [{name: "", port: 80, protocol: TCP}]
  endpoints:
  - addresses: [100.64.9.9]
    conditions: {ready: true}
"""


def test_a_cluster_dump_keeps_its_own_status_and_addresses(tmp_path: Path) -> None:
    state = load([write(tmp_path, "dump.yaml", DUMP)])
    pods = {p["metadata"]["name"]: p for p in state.pods}
    assert set(pods) == {"api-7c5ddbdf54-x2kq9", "api-7c5ddbdf54-m7wzp"}  # no new pods
    a, b = pods["api-7c5ddbdf54-x2kq9"], pods["api-7c5ddbdf54-m7wzp"]
    assert (a["status"]["podIP"], a["status"]["hostIP"], a["status"]["phase"]) == \
        ("100.64.3.17", "10.0.1.5", "Running")
    assert b["status"]["conditions"] == [{"type": "Ready", "status": "False"}]
    assert [r["metadata"]["name"] for r in state.of("replicasets")] == ["api-7c5ddbdf54"]
    svc = state.get("Service", "prod", "api")
    assert svc is not None and svc["spec"]["clusterIP"] == "10.100.200.7"
    eps = {e["addresses"][0]: e["conditions"]["ready"] for s in state.endpoint_slices
           if s["metadata"]["namespace"] == "prod" for e in s["endpoints"]}
    # api's slices are computed from the dump's pods; legacy's came with the dump (no pods)
    assert eps == {"100.64.3.17": True, "100.64.4.2": False, "100.64.9.9": True}
    legacy = state.get("EndpointSlice", "prod", "legacy-abcde")
    assert legacy is not None and legacy["endpoints"][0]["addresses"] == ["100.64.9.9"]
    node_names = sorted(n["metadata"]["name"] for n in state.nodes)
    assert node_names == ["ip-10-0-1-5", "ip-10-0-1-6", "node-1", "node-2", "node-3"]
    assert any("ip-10-0-1-5" in w for w in state.warnings)
    assert any("namespace prod" in w for w in state.warnings)


def test_invalid_input_raises_and_names_the_problem(tmp_path: Path) -> None:
    bad = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 0}]}\n"
    with pytest.raises(InvalidInput) as err:
        load([write(tmp_path, "bad.yaml", bad)])
    assert "spec.ports[0].port" in str(err.value)


def test_dump_of_a_cluster_with_another_service_range_keeps_its_addresses(tmp_path: Path) -> None:
    """A k3s dump (Services in 10.43.0.0/16) loads as-is: the service range is inferred."""
    dump = tmp_path / "k3s.yaml"
    dump.write_text("""
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: kubernetes, namespace: default}
  spec: {clusterIP: 10.43.0.1, ports: [{name: https, port: 443, targetPort: 6443}]}
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: default}
  spec: {clusterIP: 10.43.12.34, selector: {app: web}, ports: [{port: 80}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: web-1, namespace: default, labels: {app: web}}
  spec: {nodeName: k3s-server, containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}
  status: {phase: Running, podIP: 10.42.0.9, hostIP: 192.168.1.5,
           conditions: [{type: Ready, status: "True"}]}
""")
    state = load([str(dump)])
    assert state.config.service_cidr == "10.32.0.0/12"
    assert any("10.32.0.0/12" in w for w in state.warnings)
    web = state.get("svc", "default", "web")
    assert web is not None and web["spec"]["clusterIP"] == "10.43.12.34"
    pod = state.get("pod", "default", "web-1")
    assert pod is not None and pod["status"]["podIP"] == "10.42.0.9"
    slices = [s for s in state.endpoint_slices if s["metadata"]["labels"].get("kubernetes.io/service-name") == "web"]
    assert [a for s in slices for e in s["endpoints"] for a in e["addresses"]] == ["10.42.0.9"]
