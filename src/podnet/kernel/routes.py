"""Addresses and routes through rtnetlink (``ip addr`` / ``ip route``).

Addresses and prefixes are plain strings ("10.1.0.5/24", "0.0.0.0/0") parsed
with :mod:`ipaddress`, for IPv4 and IPv6 alike.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from typing import NamedTuple

from podnet.kernel import rtnl
from podnet.kernel.rtnl import Rtnl, attr, attr_u32, nested

IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
IFA_F_NODAD = 0x02
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_METRICS, RTA_TABLE = 1, 4, 5, 6, 8, 15
RTAX_MTU, RTAX_ADVMSS = 2, 8
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
RTN_UNICAST = 1

_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")


class Address(NamedTuple):
    ifindex: int
    cidr: str  # "10.1.0.5/24"


class Route(NamedTuple):
    dst: str  # "0.0.0.0/0"
    gw: str | None
    oif: int
    table: int
    priority: int


def _family(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    return socket.AF_INET if ip.version == 4 else socket.AF_INET6


def add_address(nl: Rtnl, index: int, cidr: str) -> None:
    """``ip addr add CIDR dev INDEX`` (IPv4 gets a broadcast; IPv6 skips DAD)."""
    iface = ipaddress.ip_interface(cidr)
    fam = _family(iface.ip)
    flags = IFA_F_NODAD if iface.version == 6 else 0
    body = _IFADDR.pack(fam, iface.network.prefixlen, flags, 0, index)
    body += attr(IFA_LOCAL, iface.ip.packed) + attr(IFA_ADDRESS, iface.ip.packed)
    if iface.version == 4 and iface.network.prefixlen < 31:
        body += attr(IFA_BROADCAST, iface.network.broadcast_address.packed)
    nl.request(rtnl.RTM_NEWADDR, body, rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL)


def del_address(nl: Rtnl, index: int, cidr: str) -> bool:
    """``ip addr del``; False when it was not there."""
    iface = ipaddress.ip_interface(cidr)
    body = _IFADDR.pack(_family(iface.ip), iface.network.prefixlen, 0, 0, index)
    body += attr(IFA_LOCAL, iface.ip.packed)
    try:
        nl.request(rtnl.RTM_DELADDR, body)
    except OSError as err:
        if err.errno in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ENODEV):
            return False
        raise
    return True


def addresses(nl: Rtnl, index: int = 0) -> list[Address]:
    """Every address (of one link when index is given)."""
    out = []
    replies = nl.request(rtnl.RTM_GETADDR, _IFADDR.pack(0, 0, 0, 0, 0), rtnl.NLM_F_DUMP)
    for _kind, body in replies:
        _fam, plen, _fl, _scope, idx = _IFADDR.unpack_from(body)
        if index and idx != index:
            continue
        attrs = rtnl.parse_attrs(body, _IFADDR.size)
        raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
        if raw is None:
            continue
        out.append(Address(idx, f"{ipaddress.ip_address(raw)}/{plen}"))
    return out


def add_route(
    nl: Rtnl,
    dst: str,
    gw: str | None = None,
    oif: int = 0,
    table: int = 0,
    priority: int = 0,
    mtu: int = 0,
    advmss: int = 0,
    scope: int | None = None,
    replace: bool = False,
) -> None:
    """``ip route add DST [via GW] [dev OIF] [table T] [metric P] [mtu M] [advmss A]``."""
    net = ipaddress.ip_network(dst, strict=False)
    fam = _family(net.network_address)
    if scope is None:
        scope = RT_SCOPE_UNIVERSE if gw else RT_SCOPE_LINK
    tbl = table or RT_TABLE_MAIN
    body = _RTMSG.pack(fam, net.prefixlen, 0, 0, tbl if tbl < 256 else 0, RTPROT_BOOT, scope,
                       RTN_UNICAST, 0)
    if net.prefixlen:
        body += attr(RTA_DST, net.network_address.packed)
    if gw:
        body += attr(RTA_GATEWAY, ipaddress.ip_address(gw).packed)
    if oif:
        body += attr_u32(RTA_OIF, oif)
    if priority:
        body += attr_u32(RTA_PRIORITY, priority)
    if tbl >= 256:
        body += attr_u32(RTA_TABLE, tbl)
    metrics = b""
    if mtu:
        metrics += attr_u32(RTAX_MTU, mtu)
    if advmss:
        metrics += attr_u32(RTAX_ADVMSS, advmss)
    if metrics:
        body += nested(RTA_METRICS, metrics)
    flags = rtnl.NLM_F_CREATE | (rtnl.NLM_F_REPLACE if replace else rtnl.NLM_F_EXCL)
    nl.request(rtnl.RTM_NEWROUTE, body, flags)


def routes(nl: Rtnl, family: int = socket.AF_INET, table: int = RT_TABLE_MAIN) -> list[Route]:
    """Unicast routes of one family in one table (``ip route show table T``)."""
    out = []
    replies = nl.request(rtnl.RTM_GETROUTE, _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0),
                         rtnl.NLM_F_DUMP)
    for _kind, body in replies:
        fam, dst_len, _s, _t, tbl, _p, _sc, rtype, _f = _RTMSG.unpack_from(body)
        attrs = rtnl.parse_attrs(body, _RTMSG.size)
        tbl = rtnl.get_u32(attrs, RTA_TABLE) or tbl
        if tbl != table or rtype != RTN_UNICAST:
            continue
        zero = "0.0.0.0" if fam == socket.AF_INET else "::"
        raw_dst = attrs.get(RTA_DST)
        dst_ip = str(ipaddress.ip_address(raw_dst)) if raw_dst else zero
        raw_gw = attrs.get(RTA_GATEWAY)
        out.append(Route(
            dst=f"{dst_ip}/{dst_len}",
            gw=str(ipaddress.ip_address(raw_gw)) if raw_gw else None,
            oif=rtnl.get_u32(attrs, RTA_OIF) or 0,
            table=tbl,
            priority=rtnl.get_u32(attrs, RTA_PRIORITY) or 0,
        ))
    return out
