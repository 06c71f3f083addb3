"""Validation: Kubernetes' exact messages for bad input, and good input passing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podnet.api.defaults import apply_defaults
from podnet.api.errors import InvalidInput, check_documents
from podnet.api.kinds import BY_KIND
from podnet.api.loader import load_paths, load_text
from podnet.api.validation import FieldError, ValidationContext, validate, validate_batch

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "manifests"

SVC = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
NP = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np}\n"
ING = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: ing}\n"
DEPLOY = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
BACKEND = "backend: {service: {name: web, port: {number: 80}}}"
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
FIELD_NAMES = [
    "name", "namespace", "labels", "annotations", "ports", "port", "targetPort", "nodePort",
    "protocol", "clusterIP", "clusterIPs", "type", "selector", "matchLabels", "matchExpressions",
    "key", "operator", "values", "template", "metadata", "spec", "containers", "image",
    "containerPort", "hostPort", "ingress", "egress", "from", "to", "ipBlock", "cidr", "except",
    "podSelector", "endPort", "rules", "http", "paths", "path", "pathType", "backend", "service",
    "number", "addresses", "replicas", "strategy", "rollingUpdate", "maxSurge", "updateStrategy",
    "sessionAffinity", "sessionAffinityConfig", "clientIP", "timeoutSeconds", "dnsPolicy",
    "dnsConfig", "nameservers", "policyTypes", "defaultBackend", "tls", "hosts", "externalName",
]


def messages(text: str, ctx: ValidationContext | None = None) -> list[str]:
    objs = [apply_defaults(d.obj) for d in load_text(text, "t.yaml").documents]
    ctx = ctx or ValidationContext()
    out = [str(e) for o in objs for e in validate(o, ctx)]
    for errs in validate_batch(objs, ctx).values():
        out += [str(e) for e in errs]
    return out


BAD_CASES: list[tuple[str, str, str]] = [
    ("svc-port-zero", SVC + "spec: {selector: {a: b}, ports: [{port: 0, targetPort: 80}]}",
     "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"),
    ("svc-port-high", SVC + "spec: {ports: [{port: 70000}]}",
     "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ("svc-protocol", SVC + "spec: {ports: [{port: 80, protocol: HTTP}]}",
     'spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'),
    ("svc-cluster-ip-range", SVC + "spec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}",
     'spec.clusterIPs[0]: Invalid value: "10.0.0.1": provided IP is not in the valid range. '
     "The range of valid IPs is 10.96.0.0/12"),
    ("svc-cluster-ip-garbage", SVC + "spec: {clusterIP: abc, ports: [{port: 80}]}",
     'spec.clusterIPs[0]: Invalid value: "abc": must be a valid IP address, '
     "(e.g. 10.9.8.7 or 2001:db8::ffff)"),
    ("svc-duplicate-port", SVC + "spec: {ports: [{name: a, port: 80}, {name: b, port: 80}]}",
     'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
     "AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, "
     'StrVal:""}, NodePort:0}'),
    ("svc-port-name-required", SVC + "spec: {ports: [{name: a, port: 80}, {port: 81}]}",
     "spec.ports[1].name: Required value"),
    ("svc-port-name-duplicate", SVC + "spec: {ports: [{name: http, port: 80}, "
     "{name: http, port: 81}]}", 'spec.ports[1].name: Duplicate value: "http"'),
    ("svc-nodeport-range", SVC + "spec: {type: NodePort, ports: [{port: 80, nodePort: 40000}]}",
     "spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. "
     "The range of valid ports is 30000-32767"),
    ("svc-nodeport-on-clusterip", SVC + "spec: {ports: [{port: 80, nodePort: 30001}]}",
     "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
    ("svc-targetport-chars", SVC + "spec: {ports: [{port: 80, targetPort: HTTP_PORT}]}",
     'spec.ports[0].targetPort: Invalid value: "HTTP_PORT": must contain only alpha-numeric '
     "characters (a-z, 0-9), and hyphens (-)"),
    ("svc-targetport-long", SVC + "spec: {ports: [{port: 80, targetPort: web-server-port-1}]}",
     'spec.ports[0].targetPort: Invalid value: "web-server-port-1": '
     "must be no more than 15 characters"),
    ("svc-targetport-digits-string", SVC + "spec: {ports: [{port: 80, targetPort: '8080'}]}",
     'spec.ports[0].targetPort: Invalid value: "8080": must contain at least one letter (a-z)'),
    ("svc-externalname-missing", SVC + "spec: {type: ExternalName}",
     "spec.externalName: Required value"),
    ("svc-externalname-bad", SVC + "spec: {type: ExternalName, externalName: Foo_Bar}",
     f'spec.externalName: Invalid value: "Foo_Bar": {SUBDOMAIN_MSG}'),
    ("svc-headless-nodeport", SVC + "spec: {type: NodePort, clusterIP: None, ports: [{port: 80}]}",
     "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort "
     "services"),
    ("svc-affinity-timeout", SVC + "spec: {sessionAffinity: ClientIP, sessionAffinityConfig: "
     "{clientIP: {timeoutSeconds: 0}}, ports: [{port: 80}]}",
     "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater "
     "than 0 and less than 86400"),
    ("svc-etp-clusterip", SVC + "spec: {externalTrafficPolicy: Local, ports: [{port: 80}]}",
     'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for '
     "externally-accessible services"),
    ("svc-type", SVC + "spec: {type: Internal, ports: [{port: 80}]}",
     'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", '
     '"LoadBalancer", "NodePort"'),
    ("svc-name-dns1035", "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\n"
     "spec: {ports: [{port: 80}]}",
     'metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case '
     "alphanumeric characters or '-', start with an alphabetic character, and end with an "
     "alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
     "'[a-z]([-a-z0-9]*[a-z0-9])?')"),
    ("svc-port-not-int", SVC + "spec: {ports: [{port: '80'}]}",
     'spec.ports[0].port: Invalid value: "80": must be an integer'),
    ("label-value", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {a: -bad-}}\n",
     'metadata.labels: Invalid value: "-bad-": a valid label must be an empty string or consist '
     "of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
     "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
     "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
    ("label-key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {bad key: x}}\n",
     'metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric '
     "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
     "'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
     "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
    ("namespace-dots", "apiVersion: v1\nkind: Namespace\nmetadata: {name: my.ns}\n",
     'metadata.name: Invalid value: "my.ns": must not contain dots'),
    ("name-missing", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
     "metadata.name: Required value: name or generateName is required"),
    ("pod-no-containers", POD + "spec: {containers: []}", "spec.containers: Required value"),
    ("pod-dup-container", POD + "spec: {containers: [{name: app, image: a}, "
     "{name: app, image: b}]}", 'spec.containers[1].name: Duplicate value: "app"'),
    ("pod-image-missing", POD + "spec: {containers: [{name: app}]}",
     "spec.containers[0].image: Required value"),
    ("pod-port-name", POD + "spec: {containers: [{name: a, image: i, ports: "
     "[{name: web--port, containerPort: 80}]}]}",
     'spec.containers[0].ports[0].name: Invalid value: "web--port": must not contain '
     "consecutive hyphens"),
    ("pod-host-port", POD + "spec: {containers: [{name: a, image: i, ports: "
     "[{containerPort: 80, hostPort: 70000}]}]}",
     "spec.containers[0].ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, "
     "inclusive"),
    ("pod-container-port-missing", POD + "spec: {containers: [{name: a, image: i, ports: "
     "[{name: http}]}]}", "spec.containers[0].ports[0].containerPort: Required value"),
    ("pod-restart-policy", POD + "spec: {restartPolicy: Sometimes, containers: "
     "[{name: a, image: i}]}",
     'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
     '"OnFailure", "Never"'),
    ("pod-dns-policy", POD + "spec: {dnsPolicy: Cluster, containers: [{name: a, image: i}]}",
     'spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirst", '
     '"ClusterFirstWithHostNet", "Default", "None"'),
    ("pod-dns-none", POD + "spec: {dnsPolicy: None, containers: [{name: a, image: i}]}",
     "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"),
    ("pod-dns-none-no-servers", POD + "spec: {dnsPolicy: None, dnsConfig: {searches: [a.b]}, "
     "containers: [{name: a, image: i}]}",
     "spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when "
     "`dnsPolicy` is None"),
    ("np-endport-below", NP + "spec: {podSelector: {}, ingress: [{ports: "
     "[{port: 443, endPort: 80}]}]}",
     "spec.ingress[0].ports[0].endPort: Invalid value: 443: must be greater than or equal to "
     "`port`"),
    ("np-endport-named", NP + "spec: {podSelector: {}, ingress: [{ports: "
     "[{port: https, endPort: 8443}]}]}",
     "spec.ingress[0].ports[0].endPort: Invalid value: 8443: may not be specified when `port` "
     "is non-numeric"),
    ("np-endport-no-port", NP + "spec: {podSelector: {}, egress: [{ports: [{endPort: 8443}]}]}",
     "spec.egress[0].ports[0].endPort: Invalid value: 8443: may not be specified when `port` "
     "is not specified"),
    ("np-except-outside", NP + "spec: {podSelector: {}, egress: [{to: [{ipBlock: "
     "{cidr: 10.0.0.0/8, except: [192.168.0.0/24]}}]}]}",
     'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "192.168.0.0/24": must be a '
     "strict subset of `cidr`"),
    ("np-except-equal", NP + "spec: {podSelector: {}, egress: [{to: [{ipBlock: "
     "{cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]}]}",
     'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.0.0.0/8": must be a '
     "strict subset of `cidr`"),
    ("np-bad-cidr", NP + "spec: {podSelector: {}, ingress: [{from: [{ipBlock: "
     "{cidr: 10.0.0.0/33}}]}]}",
     'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a valid CIDR '
     "value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"),
    ("np-ipblock-and-selector", NP + "spec: {podSelector: {}, ingress: [{from: [{ipBlock: "
     "{cidr: 10.0.0.0/8}, podSelector: {}}]}]}",
     "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"),
    ("np-empty-peer", NP + "spec: {podSelector: {}, ingress: [{from: [{}]}]}",
     "spec.ingress[0].from[0]: Required value: must specify a peer"),
    ("np-policy-type", NP + "spec: {podSelector: {}, policyTypes: [Both]}",
     'spec.policyTypes[0]: Unsupported value: "Both": supported values: "Ingress", "Egress"'),
    ("np-operator", NP + "spec: {podSelector: {matchExpressions: "
     "[{key: app, operator: Equals, values: [a]}]}}",
     'spec.podSelector.matchExpressions[0].operator: Invalid value: "Equals": not a valid '
     "selector operator"),
    ("np-in-no-values", NP + "spec: {podSelector: {matchExpressions: [{key: app, operator: In}]}}",
     "spec.podSelector.matchExpressions[0].values: Required value: must be specified when "
     "`operator` is 'In' or 'NotIn'"),
    ("np-exists-values", NP + "spec: {podSelector: {matchExpressions: "
     "[{key: app, operator: Exists, values: [a]}]}}",
     "spec.podSelector.matchExpressions[0].values: Forbidden: may not be specified when "
     "`operator` is 'Exists' or 'DoesNotExist'"),
    ("np-no-pod-selector", NP + "spec: {policyTypes: [Ingress]}", "spec.podSelector: Required value"),
    ("np-protocol", NP + "spec: {podSelector: {}, ingress: [{ports: [{protocol: ICMP}]}]}",
     'spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", '
     '"UDP", "SCTP"'),
    ("ing-pathtype-missing", ING + f"spec: {{rules: [{{http: {{paths: [{{path: /, {BACKEND}}}]}}}}]}}",
     "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"),
    ("ing-pathtype-bad", ING + "spec: {rules: [{http: {paths: [{path: /, pathType: Regex, "
     f"{BACKEND}}}]}}}}]}}",
     'spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: '
     '"Exact", "ImplementationSpecific", "Prefix"'),
    ("ing-path-relative", ING + "spec: {rules: [{http: {paths: [{path: api, pathType: Prefix, "
     f"{BACKEND}}}]}}}}]}}",
     'spec.rules[0].http.paths[0].path: Invalid value: "api": must be an absolute path'),
    ("ing-port-both", ING + "spec: {rules: [{http: {paths: [{path: /, pathType: Exact, "
     "backend: {service: {name: web, port: {name: http, number: 80}}}}]}}]}",
     'spec.rules[0].http.paths[0].backend: Invalid value: "": cannot set both port name & port '
     "number"),
    ("ing-port-none", ING + "spec: {rules: [{http: {paths: [{path: /, pathType: Exact, "
     "backend: {service: {name: web}}}]}}]}",
     "spec.rules[0].http.paths[0].backend: Required value: port name or number is required"),
    ("ing-host-ip", ING + "spec: {rules: [{host: 10.0.0.1, http: {paths: [{path: /, pathType: "
     f"Prefix, {BACKEND}}}]}}}}]}}",
     'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address'),
    ("ing-wildcard", ING + "spec: {rules: [{host: 'foo.*.example.com', http: {paths: [{path: /, "
     f"pathType: Prefix, {BACKEND}}}]}}}}]}}",
     'spec.rules[0].host: Invalid value: "foo.*.example.com": a wildcard DNS-1123 subdomain '
     "must start with '*.', followed by a valid DNS subdomain, which must consist of lower case "
     "alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. "
     "'*.example.com', regex used for validation is "
     "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    ("ing-nothing", ING + "spec: {}",
     "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` "
     "must be specified"),
    ("eps-address", "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n"
     "addressType: IPv4\nendpoints: [{addresses: ['fd00::1']}]",
     'endpoints[0].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address'),
    ("eps-address-type", "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
     "metadata: {name: e}\naddressType: IP\n",
     'addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"'),
    ("deploy-mismatch", DEPLOY + "spec: {selector: {matchLabels: {app: web}}, template: "
     "{metadata: {labels: {app: api, tier: x}}, spec: {containers: [{name: a, image: i}]}}}",
     'spec.template.metadata.labels: Invalid value: map[string]string{"app":"api", "tier":"x"}: '
     "`selector` does not match template `labels`"),
    ("deploy-no-selector", DEPLOY + "spec: {template: {metadata: {labels: {app: web}}, spec: "
     "{containers: [{name: a, image: i}]}}}", "spec.selector: Required value"),
    ("deploy-empty-selector", DEPLOY + "spec: {selector: {}, template: {metadata: {labels: "
     "{app: web}}, spec: {containers: [{name: a, image: i}]}}}",
     "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
     "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
     "deployment"),
    ("deploy-restart-never", DEPLOY + "spec: {selector: {matchLabels: {app: web}}, template: "
     "{metadata: {labels: {app: web}}, spec: {restartPolicy: Never, containers: "
     "[{name: a, image: i}]}}}",
     'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'),
    ("deploy-replicas", DEPLOY + "spec: {replicas: -1, selector: {matchLabels: {app: web}}, "
     "template: {metadata: {labels: {app: web}}, spec: {containers: [{name: a, image: i}]}}}",
     "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
    ("configmap-key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {bad/key: x}",
     "data[bad/key]: Invalid value: \"bad/key\": a valid config key must consist of "
     "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
     "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"),
    ("secret-tls", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\n"
     "data: {tls.crt: YQ==}", "data[tls.key]: Required value"),
    ("secret-base64", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: 'no!'}",
     'data[k]: Invalid value: "no!": illegal base64 data at input byte 2'),
    ("batch-nodeport", SVC + "spec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}\n"
     "---\napiVersion: v1\nkind: Service\nmetadata: {name: other}\n"
     "spec: {type: NodePort, ports: [{port: 81, nodePort: 30080}]}",
     "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"),
    ("batch-cluster-ip", SVC + "spec: {clusterIP: 10.96.0.50, ports: [{port: 80}]}\n---\n"
     "apiVersion: v1\nkind: Service\nmetadata: {name: other}\n"
     "spec: {clusterIP: 10.96.0.50, ports: [{port: 80}]}",
     'spec.clusterIPs[0]: Invalid value: "10.96.0.50": provided IP is already allocated'),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_bad_input_message(text: str, expected: str) -> None:
    assert expected in messages(text)


def test_there_are_many_bad_cases() -> None:
    assert len(BAD_CASES) >= 30


def test_service_reports_every_error_not_just_the_first() -> None:
    text = SVC + ("spec: {type: NodePort, clusterIP: 10.0.0.1, ports: "
                  "[{port: 0, nodePort: 40000, protocol: HTTP}, {port: 80, targetPort: BAD}]}")
    assert messages(text) == [
        'spec.clusterIPs[0]: Invalid value: "10.0.0.1": provided IP is not in the valid range. '
        "The range of valid IPs is 10.96.0.0/12",
        "spec.ports[0].name: Required value",
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        'spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", '
        '"UDP"',
        "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767",
        "spec.ports[1].name: Required value",
        'spec.ports[1].targetPort: Invalid value: "BAD": must contain only alpha-numeric '
        "characters (a-z, 0-9), and hyphens (-)",
        'spec.ports[1].targetPort: Invalid value: "BAD": must contain at least one letter (a-z)',
    ]


def test_context_changes_ranges() -> None:
    ctx = ValidationContext(service_cidr="10.43.0.0/16", node_port_range=(31000, 31100))
    text = SVC + "spec: {type: NodePort, clusterIP: 10.43.0.10, ports: [{port: 80, nodePort: 31050}]}"
    assert messages(text, ctx) == []
    assert messages(text) == [
        'spec.clusterIPs[0]: Invalid value: "10.43.0.10": provided IP is not in the valid range. '
        "The range of valid IPs is 10.96.0.0/12"]


def test_field_error_rendering() -> None:
    assert str(FieldError("spec.x", "Required value", "", 5)) == "spec.x: Required value"
    assert str(FieldError("a", "Invalid value", "bad", True)) == "a: Invalid value: true: bad"
    assert str(FieldError("a", "Invalid value", "", None)) == "a: Invalid value: null"
    assert str(FieldError("a", "Not found", "", 'x"y')) == 'a: Not found: "x\\"y"'


def test_batch_first_claimant_keeps_the_port() -> None:
    a = apply_defaults({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"},
                        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}})
    b = {**a, "metadata": {"name": "b", "namespace": "default"}}
    assert validate_batch([a, b]) == {1: [FieldError(
        "spec.ports[0].nodePort", "Invalid value", "provided port is already allocated", 30001)]}
    assert validate_batch([a, a]) == {}  # the same Service twice is not a collision


def test_good_app_passes() -> None:
    result = load_paths([str(FIXTURES / "good")])
    objs = check_documents(result.documents)
    kinds = sorted({o["kind"] for o in objs})
    assert kinds == ["ConfigMap", "DaemonSet", "Deployment", "Ingress", "IngressClass",
                     "Namespace", "NetworkPolicy", "Secret", "Service", "StatefulSet"]


def test_cluster_dump_passes() -> None:
    result = load_paths([str(FIXTURES / "dump" / "cluster-dump.yaml")])
    assert len(check_documents(result.documents)) == len(result.documents) == 9


def test_several_bad_objects_in_one_file_are_all_reported() -> None:
    path = FIXTURES / "bad" / "several-errors.yaml"
    with pytest.raises(InvalidInput) as info:
        check_documents(load_paths([str(path)]).documents)
    assert str(info.value) == "\n".join([
        f"{path}: document 1 (line 1): Service default/web is invalid:",
        "  * spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "  * spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
        f"{path}: document 3 (line 17): Deployment shop/Web_App is invalid:",
        f'  * metadata.name: Invalid value: "Web_App": {SUBDOMAIN_MSG}',
        "  * spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        '  * spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: '
        "`selector` does not match template `labels`",
        f"{path}: document 4 (line 34): NetworkPolicy default/db is invalid:",
        "  * spec.ingress[0].ports[0].endPort: Invalid value: 443: must be greater than or equal "
        "to `port`",
    ])
    problems = info.value.problems
    assert [(p.index, p.line, p.ref) for p in problems if not isinstance(p, str)] == [
        (0, 1, "Service default/web"), (2, 17, "Deployment shop/Web_App"),
        (3, 34, "NetworkPolicy default/db")]


def test_wrong_types_do_not_crash() -> None:
    text = (SVC + "spec: {ports: 80, selector: [a]}\n---\n" + POD + "spec: [1, 2]\n---\n"
            + DEPLOY + "spec: {selector: {matchLabels: x}, template: 7}")
    found = messages(text)
    assert 'spec.ports: Invalid value: 80: must be a list' in found
    assert 'spec: Invalid value: [1, 2]: must be an object' in found
    assert 'spec.template: Invalid value: 7: must be an object' in found


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.sampled_from(
        ["", "a", "None", "TCP", "10.96.0.5", "10.0.0.0/8", "http", "Exists", "In", "*.x"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(BY_KIND)), body=st.dictionaries(
    st.sampled_from(["spec", "metadata", "data", "endpoints", "ports", "addressType"]), JSON))
def test_arbitrary_shapes_never_crash(kind: str, body: dict) -> None:
    obj = {"apiVersion": BY_KIND[kind].api_version, "kind": kind, **body}
    out = apply_defaults(obj)
    errors = validate(out) + [e for errs in validate_batch([out, out]).values() for e in errs]
    assert all(isinstance(str(e), str) for e in errors)
