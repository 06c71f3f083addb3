"""podnet-bridge CHECK: does the kernel still match prevResult?

Checked, each failure being error 102 with the missing thing in ``details``:
the bridge exists; the container interface named CNI_IFNAME with sandbox
CNI_NETNS is listed in prevResult, exists, and has the MAC listed; every
address of prevResult on that interface is present; every route of
prevResult is present (same destination, and same gateway when one is
given); the host veth exists, is a port of the bridge, and has hairpin on when
configured; with ipMasq, the masquerade element of every address exists.
"""

from __future__ import annotations

import ipaddress  # CHECK only (this module is imported lazily): start-up cost is fine here
import os

from podnet.cni import errors, skel
from podnet.cni.bridge import open_pod_netns, pod_rtnl
from podnet.cni.bridge_config import BridgeConf, host_veth_name
from podnet.cni.errors import CniError
from podnet.cni.result import normalize
from podnet.kernel import links, routes
from podnet.kernel.rtnl import Rtnl


def _fail(details: str) -> CniError:
    return CniError(errors.CHECK_FAILED, "check failed", details)


def check(args: skel.CmdArgs, conf: BridgeConf) -> None:
    raw = args.config.get("prevResult")
    if not isinstance(raw, dict):
        raise CniError(errors.INVALID_CONFIG, "CHECK needs prevResult", "prevResult missing")
    prev = normalize(dict(raw, cniVersion=args.version))
    interfaces = prev.get("interfaces", [])
    index = next((i for i, iface in enumerate(interfaces)
                  if iface.get("name") == args.ifname and iface.get("sandbox") == args.netns), None)
    if index is None:
        raise _fail(f"prevResult lists no interface {args.ifname} in {args.netns}")
    with Rtnl() as host:
        br = links.get(host, conf.bridge)
        if br is None:
            raise _fail(f"bridge {conf.bridge} is missing")
        veth = links.get(host, host_veth_name(args.container_id, args.ifname))
        if veth is None or veth.master != br.ifindex:
            raise _fail(f"host veth of {args.ifname} is missing or not on {conf.bridge}")
        if conf.hairpin and not veth.hairpin:
            raise _fail(f"hairpin mode is off on {veth.name}")
    fd = open_pod_netns(args.netns)
    try:
        with pod_rtnl(fd) as pod:
            _check_pod(pod, args.ifname, interfaces[index], prev, index)
    finally:
        os.close(fd)
    if conf.ip_masq:
        from podnet.cni import masq

        have = masq.present(conf.network, args.container_id, args.ifname)
        for ip in prev.get("ips", []):
            addr = str(ipaddress.ip_interface(ip["address"]).ip)
            if addr not in have:
                raise _fail(f"masquerade rule for {addr} is missing")


def _check_pod(pod: Rtnl, ifname: str, iface: dict[str, str], prev: dict[str, object],
               index: int) -> None:
    link = links.get(pod, ifname)
    if link is None:
        raise _fail(f"interface {ifname} is missing from the container")
    if iface.get("mac") and iface["mac"].lower() != link.mac:
        raise _fail(f"{ifname} has MAC {link.mac}, prevResult says {iface['mac']}")
    have = {a.cidr for a in routes.addresses(pod, link.ifindex)}
    ips = prev.get("ips") or []
    assert isinstance(ips, list)
    for ip in ips:
        if ip.get("interface", index) == index and str(
                ipaddress.ip_interface(ip["address"])) not in have:
            raise _fail(f"address {ip['address']} is missing from {ifname}")
    route_list = prev.get("routes") or []
    assert isinstance(route_list, list)
    tables: dict[tuple[int, int], list[routes.Route]] = {}
    for route in route_list:
        dst = ipaddress.ip_network(route["dst"], strict=False)
        key = (routes.AF_INET if dst.version == 4 else routes.AF_INET6,
               int(route.get("table") or routes.RT_TABLE_MAIN))
        if key not in tables:
            tables[key] = routes.routes(pod, *key)
        gw = str(ipaddress.ip_address(route["gw"])) if route.get("gw") else None
        if not any(ipaddress.ip_network(r.dst, strict=False) == dst and (gw is None or r.gw == gw)
                   for r in tables[key]):
            raise _fail(f"route to {route['dst']} is missing")
