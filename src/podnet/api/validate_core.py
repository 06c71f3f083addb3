"""Validation of core/v1 kinds other than Service: Pod (and pod templates),
Namespace, Node, ConfigMap, Secret, and the metadata-only kinds.

Mirrors the networking-relevant parts of Kubernetes' ValidatePodSpec
(containers, container ports, host ports, restartPolicy, dnsPolicy/dnsConfig,
hostname/subdomain, nodeName, nodeSelector); volumes, probes and resources are
not checked.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from podnet.api.kinds import Obj
from podnet.api.validate_common import (
    Errs,
    child,
    index,
    validate_annotations,
    validate_labels,
    validate_metadata,
)
from podnet.api.validate_messages import (
    IP_MSG,
    config_key_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    parse_cidr,
    parse_ip,
    port_name_errors,
    port_num_errors,
)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")


def _validate_container_ports(ports: list[Any], path: str, host_net: bool, errs: Errs) -> None:
    names: set[str] = set()
    for i, port in enumerate(ports):
        p = index(path, i)
        port = errs.as_map(port, p)
        name = errs.as_str(port.get("name"), child(p, "name"))
        if name:
            msgs = port_name_errors(name)
            if msgs:
                errs.each(child(p, "name"), name, msgs)
            elif name in names:
                errs.duplicate(child(p, "name"), name)
            names.add(name)
        cport = errs.as_int(port.get("containerPort"), child(p, "containerPort"))
        if cport == 0 or "containerPort" not in port:
            errs.required(child(p, "containerPort"))
        elif cport is not None:
            errs.each(child(p, "containerPort"), cport, port_num_errors(cport))
        hport = errs.as_int(port.get("hostPort"), child(p, "hostPort"))
        if hport:
            errs.each(child(p, "hostPort"), hport, port_num_errors(hport))
        if host_net and cport and hport and hport != cport:
            errs.invalid(child(p, "containerPort"), cport,
                         "must match `hostPort` when `hostNetwork` is true")
        errs.protocol(port.get("protocol"), child(p, "protocol"))


def _validate_containers(spec: dict[str, Any], path: str, errs: Errs) -> None:
    names: set[str] = set()
    host_ports: set[str] = set()
    host_net = spec.get("hostNetwork") is True
    for field in ("initContainers", "containers"):
        cpath = child(path, field)
        raw = spec.get(field)
        containers = errs.as_list(raw, cpath)
        if field == "containers" and not containers and (raw is None or isinstance(raw, list)):
            errs.required(cpath)
        for i, ctr in enumerate(containers):
            p = index(cpath, i)
            ctr = errs.as_map(ctr, p)
            name = errs.as_str(ctr.get("name"), child(p, "name"))
            if not name:
                errs.required(child(p, "name"))
            else:
                errs.each(child(p, "name"), name, dns1123_label_errors(name))
                if name in names:
                    errs.duplicate(child(p, "name"), name)
                names.add(name)
            if not errs.as_str(ctr.get("image"), child(p, "image")):
                errs.required(child(p, "image"))
            ports = errs.as_list(ctr.get("ports"), child(p, "ports"))
            _validate_container_ports(ports, child(p, "ports"), host_net, errs)
            for j, port in enumerate(ports):
                if not isinstance(port, dict) or not isinstance(port.get("hostPort"), int):
                    continue
                if port["hostPort"] == 0:
                    continue
                key = f"{port.get('hostIP', '')}/{port.get('protocol', '')}/{port['hostPort']}"
                if key in host_ports:
                    errs.duplicate(child(index(child(p, "ports"), j), "hostPort"), key)
                host_ports.add(key)


def _validate_dns(spec: dict[str, Any], path: str, errs: Errs) -> None:
    policy = errs.as_str(spec.get("dnsPolicy"), child(path, "dnsPolicy"))
    if not policy:
        errs.required(child(path, "dnsPolicy"))
    elif policy not in DNS_POLICIES:
        errs.not_supported(child(path, "dnsPolicy"), policy, DNS_POLICIES)
    cpath = child(path, "dnsConfig")
    config = spec.get("dnsConfig")
    if policy == "None":
        if config is None:
            errs.required(cpath, "must provide `dnsConfig` when `dnsPolicy` is None")
            return
        if not errs.as_map(config, cpath).get("nameservers"):
            errs.required(child(cpath, "nameservers"),
                          "must provide at least one DNS nameserver when `dnsPolicy` is None")
            return
    if config is None:
        return
    config = errs.as_map(config, cpath)
    servers = errs.as_list(config.get("nameservers"), child(cpath, "nameservers"))
    if len(servers) > 3:
        errs.invalid(child(cpath, "nameservers"), servers, "must not have more than 3 nameservers")
    for i, ns in enumerate(servers):
        if not isinstance(ns, str) or parse_ip(ns) is None:
            errs.invalid(index(child(cpath, "nameservers"), i), ns, IP_MSG)
    searches = errs.as_list(config.get("searches"), child(cpath, "searches"))
    if len(searches) > 32:
        errs.invalid(child(cpath, "searches"), searches, "must not have more than 32 search paths")
    for i, search in enumerate(searches):
        s = errs.as_str(search, index(child(cpath, "searches"), i))
        errs.each(index(child(cpath, "searches"), i), s, dns1123_subdomain_errors(s.rstrip(".")))
    for i, opt in enumerate(errs.as_list(config.get("options"), child(cpath, "options"))):
        if not isinstance(opt, dict) or not opt.get("name"):
            errs.required(index(child(cpath, "options"), i), "must not be empty")


def validate_pod_spec(spec: Any, path: str, errs: Errs) -> None:
    """ValidatePodSpec, the networking-relevant part."""
    spec = errs.as_map(spec, path)
    _validate_containers(spec, path, errs)
    restart = errs.as_str(spec.get("restartPolicy"), child(path, "restartPolicy"))
    if not restart:
        errs.required(child(path, "restartPolicy"))
    elif restart not in RESTART_POLICIES:
        errs.not_supported(child(path, "restartPolicy"), restart, RESTART_POLICIES)
    _validate_dns(spec, path, errs)
    for field in ("hostname", "subdomain"):
        value = errs.as_str(spec.get(field), child(path, field))
        if value:
            errs.each(child(path, field), value, dns1123_label_errors(value))
    node = errs.as_str(spec.get("nodeName"), child(path, "nodeName"))
    if node:
        errs.each(child(path, "nodeName"), node, dns1123_subdomain_errors(node))
    validate_labels(spec.get("nodeSelector"), child(path, "nodeSelector"), errs)
    errs.nonnegative(spec.get("terminationGracePeriodSeconds"),
                     child(path, "terminationGracePeriodSeconds"))


def validate_pod_template(template: Any, path: str, errs: Errs) -> dict[str, Any]:
    """ValidatePodTemplateSpec (labels are reported at ``<path>.labels`` as Kubernetes does)."""
    template = errs.as_map(template, path)
    md = errs.as_map(template.get("metadata"), child(path, "metadata"))
    validate_labels(md.get("labels"), child(path, "labels"), errs)
    validate_annotations(md.get("annotations"), child(path, "annotations"), errs)
    validate_pod_spec(template.get("spec"), child(path, "spec"), errs)
    return template


def validate_pod(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, True, dns1123_subdomain_errors, errs)
    validate_pod_spec(obj.get("spec"), "spec", errs)


def validate_namespace(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, False, dns1123_label_errors, errs)


def validate_node(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, False, dns1123_subdomain_errors, errs)
    spec = errs.as_map(obj.get("spec"), "spec")
    cidrs = list(errs.as_list(spec.get("podCIDRs"), "spec.podCIDRs"))
    paths = [index("spec.podCIDRs", i) for i in range(len(cidrs))]
    if spec.get("podCIDR") is not None:
        cidrs.append(spec["podCIDR"])
        paths.append("spec.podCIDR")
    for p, cidr in zip(paths, cidrs, strict=True):
        if not isinstance(cidr, str) or parse_cidr(cidr) is None:
            errs.invalid(p, cidr, "must be a valid CIDR")


def _validate_keys(data: Any, path: str, errs: Errs) -> dict[str, Any]:
    data = errs.as_map(data, path)
    for key in data:
        errs.each(f"{path}[{key}]", key, config_key_errors(str(key)))
    return data


def validate_configmap(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, True, dns1123_subdomain_errors, errs)
    data = _validate_keys(obj.get("data"), "data", errs)
    binary = _validate_keys(obj.get("binaryData"), "binaryData", errs)
    for key, value in data.items():
        if not isinstance(value, str):
            errs.invalid(f"data[{key}]", value, "must be a string")
        if key in binary:
            errs.invalid(f"data[{key}]", key, "duplicate of key present in binaryData")


def _base64_error(value: str) -> str | None:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        bad = next((i for i, c in enumerate(value) if not (c.isalnum() and c.isascii())
                    and c not in "+/="), len(value))
        return f"illegal base64 data at input byte {bad}"
    return None


def validate_secret(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, True, dns1123_subdomain_errors, errs)
    data = _validate_keys(obj.get("data"), "data", errs)
    string_data = _validate_keys(obj.get("stringData"), "stringData", errs)
    for key, value in data.items():
        msg = _base64_error(value) if isinstance(value, str) else "must be a base64 string"
        if msg:
            errs.invalid(f"data[{key}]", value, msg)
    keys = set(data) | set(string_data)
    stype = errs.as_str(obj.get("type"), "type")
    if stype == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in keys:
                errs.required(f"data[{key}]")
    elif stype == "kubernetes.io/service-account-token":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.required("metadata.annotations[kubernetes.io/service-account.name]")
    elif stype == "kubernetes.io/basic-auth" and not keys & {"username", "password"}:
        errs.required("data[username]")


def validate_metadata_only(namespaced: bool) -> Any:
    def check(obj: Obj, errs: Errs) -> None:
        validate_metadata(obj, namespaced, dns1123_subdomain_errors, errs)
    return check
