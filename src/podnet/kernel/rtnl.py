"""A minimal rtnetlink socket: message framing, attribute codec, request/ack.

Why not pyroute2 here: the CNI plugins are one short-lived process per call,
and importing pyroute2 costs 80-120 ms on this machine (it pulls in asyncio,
ssl, multiprocessing and its whole message zoo), more than the whole budget of
an ADD. The handful of rtnetlink messages the data path needs (links,
addresses, routes) fit in a few struct formats, and this module imports only
C modules and ``os``: the socket comes from ``_socket`` (the C module behind
:mod:`socket`, whose Python layer imports ``enum``/``selectors`` for ~10 ms of
a plugin's start here). Code that is not start-up sensitive (the node agent,
the proxy) may still use pyroute2 inside ``podnet.kernel``.

A socket is bound to the network namespace of the thread that *creates* it, so
open an :class:`Rtnl` after entering the namespace (see ``netns.entered``).
"""

from __future__ import annotations

import _socket
import os
import struct

TYPE_CHECKING = False  # start-up speed: typing/collections only for the type checker
if TYPE_CHECKING:
    from collections.abc import Iterator

NETLINK_ROUTE = 0

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26

NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLA_F_NESTED = 0x8000

_HDR = struct.Struct("=IHHII")
_ATTR = struct.Struct("=HH")

Attrs = dict[int, bytes]


def attr(kind: int, data: bytes) -> bytes:
    """Encode one netlink attribute (padded to 4 bytes)."""
    length = _ATTR.size + len(data)
    return _ATTR.pack(length, kind) + data + b"\0" * ((4 - length % 4) % 4)


def attr_str(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def attr_u8(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=B", value))


def nested(kind: int, *children: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(children))


def parse_attrs(data: bytes | memoryview, offset: int = 0) -> Attrs:
    """Decode a run of attributes into {type: payload}; the last one wins."""
    out: Attrs = {}
    view = memoryview(data)
    end = len(view)
    while offset + _ATTR.size <= end:
        length, kind = _ATTR.unpack_from(view, offset)
        if length < _ATTR.size:
            break
        out[kind & ~NLA_F_NESTED & 0x7FFF] = bytes(view[offset + _ATTR.size : offset + length])
        offset += (length + 3) & ~3
    return out


def get_str(attrs: Attrs, kind: int) -> str | None:
    raw = attrs.get(kind)
    return None if raw is None else raw.split(b"\0", 1)[0].decode()


def get_u32(attrs: Attrs, kind: int) -> int | None:
    raw = attrs.get(kind)
    return None if raw is None or len(raw) < 4 else int(struct.unpack_from("=I", raw)[0])


class Record:
    """Base of the small read-only records decoded from netlink (Link, Address, Route).

    What NamedTuple gave (equality by fields, a readable repr) without the
    ``typing`` import NamedTuple costs every plugin process.
    """

    __slots__: tuple[str, ...] = ()

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == other._fields()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Rtnl:
    """One NETLINK_ROUTE socket in the current thread's network namespace."""

    def __init__(self) -> None:
        self._sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, NETLINK_ROUTE)
        self._sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, 1 << 20)
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg_type: int, payload: bytes, flags: int = 0) -> list[tuple[int, bytes]]:
        """Send one request and collect the replies.

        Modifying requests ask for an ACK; a negative errno in the ACK is
        raised as ``OSError(errno)``. Gets and dumps return every (type, body)
        pair of the reply.
        """
        self._seq += 1
        seq = self._seq
        flags |= NLM_F_REQUEST
        if msg_type % 4 != 2:  # RTM_GET* are 18, 22, 26, ...: everything else wants an ACK
            flags |= NLM_F_ACK
        self._sock.send(_HDR.pack(_HDR.size + len(payload), msg_type, flags, seq, 0) + payload)
        replies: list[tuple[int, bytes]] = []
        while True:
            data = self._sock.recv(1 << 20)
            for kind, mflags, mseq, body in _split(data):
                if mseq != seq:
                    continue
                if kind == NLMSG_DONE:
                    return replies
                if kind == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", body)
                    if code:
                        raise OSError(-code, os.strerror(-code))
                    return replies
                replies.append((kind, body))
                if not mflags & NLM_F_MULTI:
                    return replies


def _split(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    offset = 0
    while offset + _HDR.size <= len(data):
        length, kind, flags, seq, _pid = _HDR.unpack_from(data, offset)
        if length < _HDR.size:
            return
        yield kind, flags, seq, data[offset + _HDR.size : offset + length]
        offset += (length + 3) & ~3
