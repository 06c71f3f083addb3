"""Validation of Services and EndpointSlices, and the cross-object checks of
one apply (two Services asking for the same nodePort or clusterIP).

Follows Kubernetes' ValidateService plus what its IP and port allocators
reject at create time (clusterIP outside the service CIDR, nodePort outside
the NodePort range or already taken).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from podnet.api.kinds import Obj
from podnet.api.validate_common import (
    Errs,
    FieldError,
    GoValue,
    ValidationContext,
    child,
    index,
    validate_labels,
    validate_metadata,
)
from podnet.api.validate_messages import (
    IP_MSG,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    parse_ip,
    port_num_errors,
    qualified_name_errors,
)

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


def _go_service_port(protocol: str, port: int) -> GoValue:
    """How Kubernetes prints the duplicate-port key (a core.ServicePort)."""
    return GoValue(
        f'core.ServicePort{{Name:"", Protocol:"{protocol}", AppProtocol:(*string)(nil), '
        f'Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}'
    )


def _in_range(ip: str, ctx: ValidationContext) -> bool:
    addr = parse_ip(ip)
    net = ipaddress.ip_network(ctx.service_cidr, strict=False)
    if addr is None or addr.version != net.version or addr not in net:
        return False
    return net.num_addresses <= 2 or addr not in (net.network_address, net.broadcast_address)


def _validate_cluster_ips(spec: dict[str, Any], stype: str, ctx: ValidationContext,
                          errs: Errs) -> None:
    cluster_ip = errs.as_str(spec.get("clusterIP"), "spec.clusterIP")
    ips = errs.as_list(spec.get("clusterIPs"), "spec.clusterIPs") or (
        [cluster_ip] if cluster_ip else [])
    if stype == "ExternalName":
        if ips or cluster_ip:
            errs.forbidden("spec.clusterIPs", "may not be set for ExternalName services")
        for field in ("ipFamilies", "ipFamilyPolicy"):
            if spec.get(field):
                errs.forbidden(child("spec", field), "may not be set for ExternalName services")
        return
    if cluster_ip and ips and ips[0] != cluster_ip:
        errs.invalid("spec.clusterIPs", ips, "first value must match `clusterIP`")
    for i, ip in enumerate(ips):
        p = index("spec.clusterIPs", i)
        if ip == "None":
            if len(ips) > 1:
                errs.invalid(p, ip, "must not be 'None' when there is more than one value")
            elif stype in ("NodePort", "LoadBalancer"):
                errs.invalid(p, ip, f"may not be set to 'None' for {stype} services")
        elif not isinstance(ip, str) or parse_ip(ip) is None:
            errs.invalid(p, ip, IP_MSG)
        elif not _in_range(ip, ctx):
            errs.invalid(p, ip, "provided IP is not in the valid range. "
                         f"The range of valid IPs is {ctx.service_cidr}")
    policy = spec.get("ipFamilyPolicy")
    allowed = ("PreferDualStack", "RequireDualStack", "SingleStack")
    if policy is not None and policy not in allowed:
        errs.not_supported("spec.ipFamilyPolicy", policy, allowed)
    for i, fam in enumerate(errs.as_list(spec.get("ipFamilies"), "spec.ipFamilies")):
        if fam not in ("IPv4", "IPv6"):
            errs.not_supported(index("spec.ipFamilies", i), fam, ("IPv4", "IPv6"))


def _validate_ports(spec: dict[str, Any], stype: str, ctx: ValidationContext,
                    errs: Errs) -> None:
    raw = spec.get("ports")
    ports = errs.as_list(raw, "spec.ports")
    headless = spec.get("clusterIP") == "None"
    if not ports and isinstance(raw, list | None) and not headless and stype != "ExternalName":
        errs.required("spec.ports")
    names: set[str] = set()
    seen: set[tuple[str, int]] = set()
    node_ports: set[tuple[str, int]] = set()
    low, high = ctx.node_port_range
    for i, sp in enumerate(ports):
        p = index("spec.ports", i)
        sp = errs.as_map(sp, p)
        name = errs.as_str(sp.get("name"), child(p, "name"))
        if len(ports) > 1 and not name:
            errs.required(child(p, "name"))
        elif name:
            errs.each(child(p, "name"), name, dns1123_label_errors(name))
            if name in names:
                errs.duplicate(child(p, "name"), name)
            names.add(name)
        port = errs.as_int(sp.get("port"), child(p, "port"))
        if port is not None or "port" not in sp:
            errs.each(child(p, "port"), port or 0, port_num_errors(port or 0))
        errs.protocol(sp.get("protocol"), child(p, "protocol"))
        errs.port_num_or_name(sp.get("targetPort"), child(p, "targetPort"))
        app = sp.get("appProtocol")
        if app is not None:
            app = errs.as_str(app, child(p, "appProtocol"))
            errs.each(child(p, "appProtocol"), app, qualified_name_errors(app))
        protocol = str(sp.get("protocol") or "")
        node_port = errs.as_int(sp.get("nodePort"), child(p, "nodePort"))
        if node_port:
            np_path = child(p, "nodePort")
            if stype in ("ClusterIP", "ExternalName"):
                errs.forbidden(np_path, f"may not be used when `type` is '{stype}'")
            elif not low <= node_port <= high:
                errs.invalid(np_path, node_port, "provided port is not in the valid range. "
                             f"The range of valid ports is {low}-{high}")
            if (protocol, node_port) in node_ports:
                errs.duplicate(np_path, node_port)
            node_ports.add((protocol, node_port))
        if port is not None:
            if (protocol, port) in seen:
                errs.duplicate(p, _go_service_port(protocol, port))
            seen.add((protocol, port))


def _validate_affinity(spec: dict[str, Any], errs: Errs) -> None:
    affinity = errs.as_str(spec.get("sessionAffinity"), "spec.sessionAffinity")
    if not affinity:
        errs.required("spec.sessionAffinity")
    elif affinity not in AFFINITIES:
        errs.not_supported("spec.sessionAffinity", affinity, AFFINITIES)
    cfg_path = "spec.sessionAffinityConfig"
    config = spec.get("sessionAffinityConfig")
    if affinity == "None" and config is not None:
        errs.forbidden(cfg_path, "must not be set when session affinity is None")
    if affinity != "ClientIP":
        return
    why = "when session affinity type is ClientIP"
    client = errs.as_map(config, cfg_path).get("clientIP")
    if config is None:
        errs.required(cfg_path, why)
    elif client is None:
        errs.required(child(cfg_path, "clientIP"), why)
    else:
        t_path = child(cfg_path, "clientIP", "timeoutSeconds")
        timeout = errs.as_int(errs.as_map(client, child(cfg_path, "clientIP"))
                              .get("timeoutSeconds"), t_path)
        if timeout is None:
            errs.required(t_path, why)
        elif not 0 < timeout <= 86400:
            errs.invalid(t_path, timeout, "must be greater than 0 and less than 86400")


def validate_service(obj: Obj, ctx: ValidationContext, errs: Errs) -> None:
    validate_metadata(obj, True, dns1035_label_errors, errs)
    spec = errs.as_map(obj.get("spec"), "spec")
    stype = errs.as_str(spec.get("type"), "spec.type")
    if not stype:
        errs.required("spec.type")
    elif stype not in SERVICE_TYPES:
        errs.not_supported("spec.type", stype, SERVICE_TYPES)
    if stype == "ExternalName":
        cname = errs.as_str(spec.get("externalName"), "spec.externalName").removesuffix(".")
        if cname:
            errs.each("spec.externalName", cname, dns1123_subdomain_errors(cname))
        else:
            errs.required("spec.externalName")
    _validate_cluster_ips(spec, stype, ctx, errs)
    _validate_ports(spec, stype, ctx, errs)
    if spec.get("selector") is not None:
        validate_labels(spec.get("selector"), "spec.selector", errs)
    _validate_affinity(spec, errs)
    for i, ip in enumerate(errs.as_list(spec.get("externalIPs"), "spec.externalIPs")):
        if not isinstance(ip, str) or parse_ip(ip) is None:
            errs.invalid(index("spec.externalIPs", i), ip, IP_MSG)
    external = stype in ("NodePort", "LoadBalancer") or (
        stype == "ClusterIP" and bool(spec.get("externalIPs")))
    etp = spec.get("externalTrafficPolicy")
    if not external and etp:
        errs.invalid("spec.externalTrafficPolicy", etp,
                     "may only be set for externally-accessible services")
    elif external and not etp:
        errs.required("spec.externalTrafficPolicy")
    elif external and etp not in TRAFFIC_POLICIES:
        errs.not_supported("spec.externalTrafficPolicy", etp, TRAFFIC_POLICIES)
    itp = spec.get("internalTrafficPolicy")
    if itp is None and stype in ("ClusterIP", "NodePort", "LoadBalancer"):
        errs.required("spec.internalTrafficPolicy")
    elif itp is not None and itp not in TRAFFIC_POLICIES:
        errs.not_supported("spec.internalTrafficPolicy", itp, TRAFFIC_POLICIES)
    alloc = spec.get("allocateLoadBalancerNodePorts")
    if alloc is not None and stype != "LoadBalancer":
        errs.forbidden("spec.allocateLoadBalancerNodePorts",
                       "may only be used when `type` is 'LoadBalancer'")
    if spec.get("loadBalancerSourceRanges") and stype != "LoadBalancer":
        errs.forbidden("spec.LoadBalancerSourceRanges",
                       "may only be used when `type` is 'LoadBalancer'")


def validate_endpointslice(obj: Obj, errs: Errs) -> None:
    validate_metadata(obj, True, dns1123_subdomain_errors, errs)
    atype = errs.as_str(obj.get("addressType"), "addressType")
    for i, ep in enumerate(errs.as_list(obj.get("endpoints"), "endpoints")):
        p = index("endpoints", i)
        ep = errs.as_map(ep, p)
        addrs = errs.as_list(ep.get("addresses"), child(p, "addresses"))
        if not addrs:
            errs.required(child(p, "addresses"), "must contain at least 1 address")
        for j, addr in enumerate(addrs):
            _validate_endpoint_address(addr, atype, index(child(p, "addresses"), j), errs)
        node = ep.get("nodeName")
        if node is not None:
            node = errs.as_str(node, child(p, "nodeName"))
            errs.each(child(p, "nodeName"), node, dns1123_subdomain_errors(node))
        host = ep.get("hostname")
        if host is not None:
            host = errs.as_str(host, child(p, "hostname"))
            errs.each(child(p, "hostname"), host, dns1123_label_errors(host))
    if not atype:
        errs.required("addressType")
    elif atype not in ADDRESS_TYPES:
        errs.not_supported("addressType", atype, ADDRESS_TYPES)
    names: set[str] = set()
    for i, port in enumerate(errs.as_list(obj.get("ports"), "ports")):
        p = index("ports", i)
        port = errs.as_map(port, p)
        name = errs.as_str(port.get("name"), child(p, "name"))
        if name:
            errs.each(child(p, "name"), name, dns1123_label_errors(name))
        if name in names:
            errs.duplicate(child(p, "name"), name)
        names.add(name)
        errs.protocol(port.get("protocol"), child(p, "protocol"))
        number = errs.as_int(port.get("port"), child(p, "port"))
        if number is not None:
            errs.each(child(p, "port"), number, port_num_errors(number))


def _validate_endpoint_address(addr: Any, atype: str, path: str, errs: Errs) -> None:
    if atype == "FQDN":
        addr = errs.as_str(addr, path)
        errs.each(path, addr, dns1123_subdomain_errors(addr))
        return
    if atype not in ("IPv4", "IPv6"):
        return
    ip = parse_ip(addr) if isinstance(addr, str) else None
    if ip is None or f"IPv{ip.version}" != atype:
        errs.invalid(path, addr, f"must be a valid {atype} address")
        return
    if ip.is_unspecified:
        errs.invalid(path, addr, f"may not be unspecified ({addr})")
    if ip.is_loopback:
        errs.invalid(path, addr, "may not be in the loopback range (127.0.0.0/8, ::1/128)")
    if ip.is_link_local and not ip.is_multicast:
        errs.invalid(path, addr, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    if ip in ipaddress.ip_network("224.0.0.0/24") or ip in ipaddress.ip_network("ff02::/16"):
        errs.invalid(path, addr,
                     "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")


def service_batch_errors(objs: list[Obj]) -> dict[int, list[FieldError]]:
    """Two Services in one apply asking for the same clusterIP or nodePort:
    the first keeps it, later ones fail as the allocators would fail them."""
    out: dict[int, list[FieldError]] = {}
    ip_owner: dict[str, tuple[str, str]] = {}
    port_owner: dict[int, tuple[str, str]] = {}
    for i, obj in enumerate(objs):
        if obj.get("kind") != "Service" or not isinstance(obj.get("spec"), dict):
            continue
        md = obj.get("metadata")
        md = md if isinstance(md, dict) else {}
        key = (str(md.get("namespace") or ""), str(md.get("name") or ""))
        spec = obj["spec"]
        errs: list[FieldError] = []
        ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        for j, ip in enumerate(ips if isinstance(ips, list) else []):
            if not isinstance(ip, str) or ip in ("", "None"):
                continue
            if ip_owner.setdefault(ip, key) != key:
                errs.append(FieldError(index("spec.clusterIPs", j), "Invalid value",
                                       "provided IP is already allocated", ip))
        ports = spec.get("ports")
        for j, sp in enumerate(ports if isinstance(ports, list) else []):
            np = sp.get("nodePort") if isinstance(sp, dict) else None
            if not isinstance(np, int) or isinstance(np, bool) or not np:
                continue
            if port_owner.setdefault(np, key) != key:
                errs.append(FieldError(child(index("spec.ports", j), "nodePort"), "Invalid value",
                                       "provided port is already allocated", np))
        if errs:
            out[i] = errs
    return out
