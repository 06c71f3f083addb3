"""Network links through rtnetlink: look up, create (bridge, veth), change, delete.

Verbs read like iproute2 (``ip link add/set/del/show``) and take an open
:class:`~podnet.kernel.rtnl.Rtnl`, so a caller that has entered a namespace
does all its work on one socket (no helper process, no per-call fork).
Addresses and routes live in :mod:`podnet.kernel.routes`.
"""

from __future__ import annotations

import errno
import struct

from podnet.kernel import rtnl
from podnet.kernel.rtnl import Record, Rtnl, attr, attr_str, attr_u8, attr_u32, nested

IFF_UP = 0x1
IFF_PROMISC = 0x100
AF_UNSPEC = 0
AF_BRIDGE = 7

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK = 1, 3, 4, 5
IFLA_MASTER, IFLA_PROTINFO, IFLA_LINKINFO = 10, 12, 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 4, 5
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4  # hairpin

_IFINFO = struct.Struct("=BxHiII")


class Link(Record):
    """What ``ip -d link show`` would say about one interface."""

    __slots__ = (
        "flags",
        "hairpin",
        "ifindex",
        "kind",
        "mac",
        "master",
        "mtu",
        "name",
        "peer_index",
    )

    def __init__(self, ifindex: int, name: str, mac: str, mtu: int, flags: int, master: int,
                 kind: str, peer_index: int, hairpin: bool) -> None:
        self.ifindex = ifindex
        self.name = name
        self.mac = mac
        self.mtu = mtu
        self.flags = flags
        self.master = master
        self.kind = kind
        self.peer_index = peer_index  # IFLA_LINK: for a veth, the peer's index (in its namespace)
        self.hairpin = hairpin

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0, family: int = AF_UNSPEC) -> bytes:
    return _IFINFO.pack(family, 0, index, flags, change)


def _decode(body: bytes) -> Link:
    _fam, _type, index, flags, _chg = _IFINFO.unpack_from(body)
    attrs = rtnl.parse_attrs(body, _IFINFO.size)
    info = rtnl.parse_attrs(attrs.get(IFLA_LINKINFO, b""))
    slave = rtnl.parse_attrs(info.get(IFLA_INFO_SLAVE_DATA, b""))
    mac = attrs.get(IFLA_ADDRESS, b"")
    return Link(
        ifindex=index,
        name=rtnl.get_str(attrs, IFLA_IFNAME) or "",
        mac=":".join(f"{b:02x}" for b in mac),
        mtu=rtnl.get_u32(attrs, IFLA_MTU) or 0,
        flags=flags,
        master=rtnl.get_u32(attrs, IFLA_MASTER) or 0,
        kind=rtnl.get_str(info, IFLA_INFO_KIND) or "",
        peer_index=rtnl.get_u32(attrs, IFLA_LINK) or 0,
        hairpin=slave.get(IFLA_BRPORT_MODE, b"\0")[:1] == b"\x01",
    )


def get(nl: Rtnl, name: str | None = None, index: int = 0) -> Link | None:
    """One link by name or index, or None when it does not exist."""
    payload = _ifinfo(index)
    if name is not None:
        payload += attr_str(IFLA_IFNAME, name)
    try:
        replies = nl.request(rtnl.RTM_GETLINK, payload)
    except OSError as err:
        if err.errno in (errno.ENODEV, errno.ENOENT):
            return None
        raise
    return _decode(replies[0][1]) if replies else None


def dump(nl: Rtnl) -> list[Link]:
    """Every link in the namespace (one dump, cheap even for many links)."""
    return [_decode(body) for _k, body in nl.request(rtnl.RTM_GETLINK, _ifinfo(), rtnl.NLM_F_DUMP)]


def add_bridge(nl: Rtnl, name: str, mtu: int = 0, up: bool = True) -> Link:
    """``ip link add NAME type bridge [mtu M] [up]``; returns the new link."""
    attrs = attr_str(IFLA_IFNAME, name) + nested(IFLA_LINKINFO, attr_str(IFLA_INFO_KIND, "bridge"))
    if mtu:
        attrs += attr_u32(IFLA_MTU, mtu)
    flags = IFF_UP if up else 0
    nl.request(rtnl.RTM_NEWLINK, _ifinfo(0, flags, IFF_UP) + attrs,
               rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL)
    link = get(nl, name)
    assert link is not None
    return link


def add_veth(
    nl: Rtnl,
    name: str,
    peer_name: str,
    peer_netns_fd: int | None = None,
    mtu: int = 0,
    master: int = 0,
    up: bool = True,
    ipv6: bool = True,
) -> None:
    """``ip link add NAME [master M] [up] type veth peer name PEER netns FD``.

    Creating the peer directly inside the target namespace, already named,
    means there is never a half-made pair to clean up in the host namespace.
    Only this end is brought up: the kernel cannot open the peer before the
    pair exists (ENOTCONN), so the caller sets the peer up from its namespace.
    ``ipv6=False``: IPv6 is disabled on this end before it comes up (the
    ``disable_ipv6`` sysctl, in the calling thread's namespace, which must be
    ``nl``'s): a bridge port forwards IPv6 frames all the same but needs no IPv6
    of its own, and without it adding a port costs the kernel less on a bridge
    with hundreds of ports (no link-local address, DAD, MLD or solicitations).
    """
    peer = attr_str(IFLA_IFNAME, peer_name)
    if peer_netns_fd is not None:
        peer += attr_u32(IFLA_NET_NS_FD, peer_netns_fd)
    if mtu:
        peer += attr_u32(IFLA_MTU, mtu)
    flags = IFF_UP if up else 0
    info = nested(
        IFLA_LINKINFO,
        attr_str(IFLA_INFO_KIND, "veth"),
        nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, _ifinfo() + peer)),
    )
    attrs = attr_str(IFLA_IFNAME, name) + info
    if mtu:
        attrs += attr_u32(IFLA_MTU, mtu)
    if master:
        attrs += attr_u32(IFLA_MASTER, master)
    nl.request(rtnl.RTM_NEWLINK, _ifinfo(0, flags if ipv6 else 0, IFF_UP) + attrs,
               rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL)
    if not ipv6:
        try:
            with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
                f.write("1")
        except FileNotFoundError:  # a kernel without IPv6
            pass
        if up:
            nl.request(rtnl.RTM_NEWLINK, _ifinfo(0, IFF_UP, IFF_UP) + attr_str(IFLA_IFNAME, name))


def set_link(
    nl: Rtnl,
    index: int,
    up: bool | None = None,
    promisc: bool | None = None,
    master: int | None = None,
    mtu: int | None = None,
    name: str | None = None,
    netns_fd: int | None = None,
) -> None:
    """``ip link set`` for the given fields only."""
    flags = change = 0
    if up is not None:
        change |= IFF_UP
        flags |= IFF_UP if up else 0
    if promisc is not None:
        change |= IFF_PROMISC
        flags |= IFF_PROMISC if promisc else 0
    attrs = b""
    if master is not None:
        attrs += attr_u32(IFLA_MASTER, master)
    if mtu:
        attrs += attr_u32(IFLA_MTU, mtu)
    if name is not None:
        attrs += attr_str(IFLA_IFNAME, name)
    if netns_fd is not None:
        attrs += attr_u32(IFLA_NET_NS_FD, netns_fd)
    nl.request(rtnl.RTM_NEWLINK, _ifinfo(index, flags, change) + attrs)


def set_hairpin(nl: Rtnl, index: int, on: bool = True) -> None:
    """``ip link set DEV type bridge_slave hairpin on`` (the port must be enslaved)."""
    info = nested(
        IFLA_LINKINFO,
        attr_str(IFLA_INFO_SLAVE_KIND, "bridge"),
        nested(IFLA_INFO_SLAVE_DATA, attr_u8(IFLA_BRPORT_MODE, 1 if on else 0)),
    )
    nl.request(rtnl.RTM_NEWLINK, _ifinfo(index) + info)


def delete(nl: Rtnl, name: str | None = None, index: int = 0) -> bool:
    """``ip link del``; False (no error) when the link is already gone."""
    payload = _ifinfo(index)
    if name is not None:
        payload += attr_str(IFLA_IFNAME, name)
    try:
        nl.request(rtnl.RTM_DELLINK, payload)
    except OSError as err:
        if err.errno in (errno.ENODEV, errno.ENOENT):
            return False
        raise
    return True
