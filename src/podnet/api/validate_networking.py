"""Validation of networking.k8s.io/v1 kinds: NetworkPolicy, Ingress, IngressClass.

Follows Kubernetes' ValidateNetworkPolicySpec (ports and endPort, peers,
ipBlock/except, policyTypes) and ValidateIngressSpec (hosts, wildcard hosts,
pathType, paths, backends, TLS), with their messages.
"""

from __future__ import annotations

from typing import Any

from podnet.api.kinds import Obj
from podnet.api.validate_common import (
    Errs,
    GoValue,
    child,
    index,
    validate_label_selector,
    validate_metadata,
)
from podnet.api.validate_messages import (
    CIDR_MSG,
    dns1035_label_errors,
    dns1123_subdomain_errors,
    parse_cidr,
    parse_ip,
    port_name_errors,
    port_num_errors,
    wildcard_subdomain_errors,
)

POLICY_TYPES = ("Ingress", "Egress")
PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
_BAD_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_BAD_SUFFIXES = ("/..", "/.")


def _validate_np_port(port: Any, path: str, errs: Errs) -> None:
    port = errs.as_map(port, path)
    proto = port.get("protocol")
    if proto is not None and proto not in ("TCP", "UDP", "SCTP"):
        errs.not_supported(child(path, "protocol"), proto, ("TCP", "UDP", "SCTP"))
    number = errs.int_or_str(port.get("port"), child(path, "port"))
    end = errs.as_int(port.get("endPort"), child(path, "endPort"))
    end_path = child(path, "endPort")
    if isinstance(number, int):
        errs.each(child(path, "port"), number, port_num_errors(number))
        if end is not None:
            if end < number:
                errs.invalid(end_path, number, "must be greater than or equal to `port`")
            errs.each(end_path, end, port_num_errors(end))
    elif isinstance(number, str):
        if end is not None:
            errs.invalid(end_path, end, "may not be specified when `port` is non-numeric")
        errs.each(child(path, "port"), number, port_name_errors(number))
    elif end is not None and "port" not in port:
        errs.invalid(end_path, end, "may not be specified when `port` is not specified")


def _validate_ip_block(block: Any, path: str, errs: Errs) -> None:
    block = errs.as_map(block, path)
    cidr_text = errs.as_str(block.get("cidr"), child(path, "cidr"))
    if not cidr_text:
        errs.required(child(path, "cidr"))
        return
    cidr = parse_cidr(cidr_text)
    if cidr is None:
        errs.invalid(child(path, "cidr"), cidr_text, CIDR_MSG)
        return
    for i, ex_text in enumerate(errs.as_list(block.get("except"), child(path, "except"))):
        p = index(child(path, "except"), i)
        ex = parse_cidr(ex_text) if isinstance(ex_text, str) else None
        if ex is None:
            errs.invalid(p, ex_text, CIDR_MSG)
            continue
        if (ex.version != cidr.version or ex.network_address not in cidr
                or cidr.prefixlen >= ex.prefixlen):
            errs.invalid(p, ex_text, "must be a strict subset of `cidr`")


def _validate_peer(peer: Any, path: str, errs: Errs) -> None:
    peer = errs.as_map(peer, path)
    count = 0
    for field in ("podSelector", "namespaceSelector"):
        if peer.get(field) is not None:
            count += 1
            validate_label_selector(peer[field], child(path, field), errs)
    if peer.get("ipBlock") is not None:
        count += 1
        _validate_ip_block(peer["ipBlock"], child(path, "ipBlock"), errs)
    if count == 0:
        errs.required(path, "must specify a peer")
    elif count > 1 and peer.get("ipBlock") is not None:
        errs.forbidden(path, "may not specify both ipBlock and another peer")


def validate_networkpolicy(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, True, dns1123_subdomain_errors, errs)
    spec = errs.as_map(obj.get("spec"), "spec")
    if spec.get("podSelector") is None:
        errs.required("spec.podSelector")
    else:
        validate_label_selector(spec["podSelector"], "spec.podSelector", errs)
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(errs.as_list(spec.get(direction), child("spec", direction))):
            rpath = index(child("spec", direction), i)
            rule = errs.as_map(rule, rpath)
            for j, port in enumerate(errs.as_list(rule.get("ports"), child(rpath, "ports"))):
                _validate_np_port(port, index(child(rpath, "ports"), j), errs)
            for j, peer in enumerate(errs.as_list(rule.get(peers), child(rpath, peers))):
                _validate_peer(peer, index(child(rpath, peers), j), errs)
    types = errs.as_list(spec.get("policyTypes"), "spec.policyTypes")
    if len(types) > 2:
        errs.invalid("spec.policyTypes", types, "may not have more than 2 values")
        return
    for i, ptype in enumerate(types):
        if ptype not in POLICY_TYPES:
            errs.not_supported(index("spec.policyTypes", i), ptype, POLICY_TYPES)


def _validate_backend(backend: Any, path: str, errs: Errs) -> None:
    backend = errs.as_map(backend, path)
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        errs.invalid(path, "", "cannot set both resource and service backends")
        return
    if resource is not None:
        resource = errs.as_map(resource, child(path, "resource"))
        for field in ("kind", "name"):
            if not resource.get(field):
                errs.required(child(path, "resource", field))
        return
    if service is None:
        errs.invalid(path, "", "resource or service backend is required")
        return
    service = errs.as_map(service, child(path, "service"))
    name = errs.as_str(service.get("name"), child(path, "service", "name"))
    if not name:
        errs.required(child(path, "service", "name"))
    else:
        errs.each(child(path, "service", "name"), name, dns1035_label_errors(name))
    port = errs.as_map(service.get("port"), child(path, "service", "port"))
    pname = errs.as_str(port.get("name"), child(path, "service", "port", "name"))
    number = errs.as_int(port.get("number"), child(path, "service", "port", "number"))
    if pname and number:
        errs.invalid(path, "", "cannot set both port name & port number")
    elif pname:
        errs.each(child(path, "service", "port", "name"), pname, port_name_errors(pname))
    elif number:
        errs.each(child(path, "service", "port", "number"), number, port_num_errors(number))
    else:
        errs.required(path, "port name or number is required")


def _validate_http_path(item: Any, path: str, errs: Errs) -> None:
    item = errs.as_map(item, path)
    ptype = item.get("pathType")
    if ptype is None:
        errs.required(child(path, "pathType"), "pathType must be specified")
        return
    value = errs.as_str(item.get("path"), child(path, "path"))
    if ptype in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.invalid(child(path, "path"), value, "must be an absolute path")
        for seq in _BAD_SEQUENCES:
            if value and seq in value:
                errs.invalid(child(path, "path"), value, f"must not contain '{seq}'")
        for suffix in _BAD_SUFFIXES:
            if value.endswith(suffix):
                errs.invalid(child(path, "path"), value, f"cannot end with '{suffix}'")
    elif ptype == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.invalid(child(path, "path"), value, "must be an absolute path")
    else:
        errs.not_supported(child(path, "pathType"), ptype, PATH_TYPES)
    _validate_backend(item.get("backend"), child(path, "backend"), errs)


def _host_errors(host: str) -> list[str]:
    msgs = ["must be a DNS name, not an IP address"] if parse_ip(host) is not None else []
    if "*" in host:
        return msgs + wildcard_subdomain_errors(host)
    return msgs + dns1123_subdomain_errors(host)


def validate_ingress(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, True, dns1123_subdomain_errors, errs)
    spec = errs.as_map(obj.get("spec"), "spec")
    rules = errs.as_list(spec.get("rules"), "spec.rules")
    if not rules and spec.get("defaultBackend") is None:
        errs.invalid("spec", GoValue("[]networking.IngressRule(nil)"),
                     "either `defaultBackend` or `rules` must be specified")
    if spec.get("defaultBackend") is not None:
        _validate_backend(spec["defaultBackend"], "spec.defaultBackend", errs)
    for i, rule in enumerate(rules):
        rpath = index("spec.rules", i)
        rule = errs.as_map(rule, rpath)
        host = errs.as_str(rule.get("host"), child(rpath, "host"))
        if host:
            errs.each(child(rpath, "host"), host, _host_errors(host))
        if rule.get("http") is None:
            continue
        http = errs.as_map(rule["http"], child(rpath, "http"))
        paths = errs.as_list(http.get("paths"), child(rpath, "http", "paths"))
        if not paths:
            errs.required(child(rpath, "http", "paths"))
        for j, item in enumerate(paths):
            _validate_http_path(item, index(child(rpath, "http", "paths"), j), errs)
    for i, tls in enumerate(errs.as_list(spec.get("tls"), "spec.tls")):
        tpath = index("spec.tls", i)
        tls = errs.as_map(tls, tpath)
        for j, host in enumerate(errs.as_list(tls.get("hosts"), child(tpath, "hosts"))):
            hpath = index(child(tpath, "hosts"), j)
            host = errs.as_str(host, hpath)
            msgs = wildcard_subdomain_errors(host) if "*" in host else \
                dns1123_subdomain_errors(host)
            errs.each(hpath, host, msgs)
        secret = errs.as_str(tls.get("secretName"), child(tpath, "secretName"))
        if secret:
            errs.each(child(tpath, "secretName"), secret, dns1123_subdomain_errors(secret))
    cls = spec.get("ingressClassName")
    if cls is not None:
        cls = errs.as_str(cls, "spec.ingressClassName")
        errs.each("spec.ingressClassName", cls, dns1123_subdomain_errors(cls))


def validate_ingressclass(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, False, dns1123_subdomain_errors, errs)
    spec = errs.as_map(obj.get("spec"), "spec")
    controller = errs.as_str(spec.get("controller"), "spec.controller")
    if not controller:
        errs.required("spec.controller")
        return
    if len(controller) > 250:
        errs.too_long("spec.controller", 250)
    host, sep, rest = controller.partition("/")
    if not sep or not rest:
        errs.invalid("spec.controller", controller,
                     'must be a domain-prefixed path (such as "acme.io/foo")')
    else:
        errs.each("spec.controller", host, dns1123_subdomain_errors(host))
