"""Addresses and routes through rtnetlink (``ip addr`` / ``ip route``).

Addresses and prefixes are plain strings ("10.1.0.5/24", "0.0.0.0/0"), IPv4
and IPv6 alike. They are parsed and printed with ``inet_pton`` and a few lines
of integer arithmetic (:func:`parse_cidr`, :func:`format_ip`) rather than
:mod:`ipaddress`, whose import costs a CNI plugin process ~6 ms; the printed
form is exactly ``str(ipaddress.ip_address(...))``, and anything but a plain
``ADDR[/PREFIXLEN]`` (a netmask, say) is still handed to :mod:`ipaddress`.
"""

from __future__ import annotations

import errno
import struct
from _socket import AF_INET, AF_INET6, inet_pton

from podnet.kernel import rtnl
from podnet.kernel.rtnl import Record, Rtnl, attr, attr_u32, nested

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


class Address(Record):
    __slots__ = ("cidr", "ifindex")

    def __init__(self, ifindex: int, cidr: str) -> None:
        self.ifindex = ifindex
        self.cidr = cidr  # "10.1.0.5/24"


class Route(Record):
    __slots__ = ("dst", "gw", "oif", "priority", "table")

    def __init__(self, dst: str, gw: str | None, oif: int, table: int, priority: int) -> None:
        self.dst = dst  # "0.0.0.0/0"
        self.gw = gw
        self.oif = oif
        self.table = table
        self.priority = priority


def parse_ip(text: str) -> tuple[int, bytes]:
    """``"10.1.0.5"`` -> (AF_INET, packed); ValueError when it is not an address."""
    family = AF_INET6 if ":" in text else AF_INET
    try:
        return family, inet_pton(family, text)
    except OSError:
        import ipaddress  # what it accepts beyond inet_pton (e.g. an IPv6 scope), or its error

        ip = ipaddress.ip_address(text)
        return (AF_INET if ip.version == 4 else AF_INET6), ip.packed


def parse_cidr(text: str) -> tuple[int, bytes, int]:
    """``"10.1.0.5/24"`` -> (family, packed address, prefix length); no prefix = host."""
    addr, sep, plen = text.partition("/")
    if sep and not (plen.isdigit() and plen.isascii()):
        import ipaddress  # a netmask or hostmask instead of a length: rare, let ipaddress do it

        iface = ipaddress.ip_interface(text)
        return (AF_INET if iface.version == 4 else AF_INET6), iface.ip.packed, iface.network.prefixlen
    family, packed = parse_ip(addr)
    prefix = int(plen) if sep else len(packed) * 8
    if prefix > len(packed) * 8:
        raise ValueError(f"{text!r} does not appear to be an IPv4 or IPv6 interface")
    return family, packed, prefix


def host_bits(packed: bytes, prefix: int, ones: bool) -> bytes:
    """``packed`` with the bits after ``prefix`` cleared (network) or set (broadcast)."""
    bits = len(packed) * 8
    value = int.from_bytes(packed, "big")
    host = (1 << (bits - prefix)) - 1
    value = value | host if ones else value & ~host
    return value.to_bytes(len(packed), "big")


def format_ip(packed: bytes) -> str:
    """Text form of a packed address, exactly as ``str(ipaddress.ip_address(packed))``."""
    if len(packed) == 4:
        return ".".join(map(str, packed))
    words = [f"{packed[i] << 8 | packed[i + 1]:x}" for i in range(0, 16, 2)]
    best, best_len, start = -1, 0, -1
    for i, word in enumerate(words):  # the longest run of zero words, the first one on a tie
        if word != "0":
            start = -1
            continue
        if start < 0:
            start = i
        if i - start + 1 > best_len:
            best, best_len = start, i - start + 1
    if best_len < 2:
        return ":".join(words)
    return ":".join(words[:best]) + "::" + ":".join(words[best + best_len:])


def add_address(nl: Rtnl, index: int, cidr: str) -> None:
    """``ip addr add CIDR dev INDEX`` (IPv4 gets a broadcast; IPv6 skips DAD)."""
    fam, packed, prefix = parse_cidr(cidr)
    flags = IFA_F_NODAD if fam == AF_INET6 else 0
    body = _IFADDR.pack(fam, prefix, flags, 0, index)
    body += attr(IFA_LOCAL, packed) + attr(IFA_ADDRESS, packed)
    if fam == AF_INET and prefix < 31:
        body += attr(IFA_BROADCAST, host_bits(packed, prefix, ones=True))
    nl.request(rtnl.RTM_NEWADDR, body, rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL)


def del_address(nl: Rtnl, index: int, cidr: str) -> bool:
    """``ip addr del``; False when it was not there."""
    fam, packed, prefix = parse_cidr(cidr)
    body = _IFADDR.pack(fam, prefix, 0, 0, index)
    body += attr(IFA_LOCAL, packed)
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
        out.append(Address(idx, f"{format_ip(raw)}/{plen}"))
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
    fam, packed, prefix = parse_cidr(dst)
    if scope is None:
        scope = RT_SCOPE_UNIVERSE if gw else RT_SCOPE_LINK
    tbl = table or RT_TABLE_MAIN
    body = _RTMSG.pack(fam, prefix, 0, 0, tbl if tbl < 256 else 0, RTPROT_BOOT, scope,
                       RTN_UNICAST, 0)
    if prefix:
        body += attr(RTA_DST, host_bits(packed, prefix, ones=False))
    if gw:
        body += attr(RTA_GATEWAY, parse_ip(gw)[1])
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


def routes(nl: Rtnl, family: int = AF_INET, table: int = RT_TABLE_MAIN) -> list[Route]:
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
        zero = "0.0.0.0" if fam == AF_INET else "::"
        raw_dst = attrs.get(RTA_DST)
        dst_ip = format_ip(raw_dst) if raw_dst else zero
        raw_gw = attrs.get(RTA_GATEWAY)
        out.append(Route(
            dst=f"{dst_ip}/{dst_len}",
            gw=format_ip(raw_gw) if raw_gw else None,
            oif=rtnl.get_u32(attrs, RTA_OIF) or 0,
            table=tbl,
            priority=rtnl.get_u32(attrs, RTA_PRIORITY) or 0,
        ))
    return out
