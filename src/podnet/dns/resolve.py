"""Resolution as a pod sees it: the search path, ndots, and autopath.

A pod with ``dnsPolicy: ClusterFirst`` in namespace NS has::

    search NS.svc.<zone> svc.<zone> <zone>
    options ndots:5

and glibc tries a name as glibc does: with a trailing dot only as written;
with at least ``ndots`` dots first as written, then with each search domain;
otherwise each search domain first and the name as written last. A try that
returns records ends the search; NXDOMAIN, NODATA and SERVFAIL go on to the
next; when all fail the first NODATA is the result, else the last answer.

``resolve(ask, name, qtype, namespace)`` replays that over any ``ask(name,
qtype) -> Answer`` — ``zone_asker`` (offline, from a Zone), ``server_asker``
(live, real queries to a server) — and returns the final answer with every
query tried, which is how the cost of an external name through ndots:5 is
counted. ``autopath_names`` is the server side of CoreDNS's autopath: the
names left to try once ``base.NS.svc.<zone>`` was NXDOMAIN for a pod of NS.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dnslib

from podnet.dns.answer import lookup
from podnet.dns.records import NODATA_RCODE, NXDOMAIN, Answer
from podnet.dns.wire import RCODE_NAMES, records_of
from podnet.dns.zone import Zone

Ask = Callable[[str, str], Answer]


def search_path(namespace: str, domain: str = "cluster.local",
                extra: Sequence[str] = ()) -> list[str]:
    """The ClusterFirst search list of a pod in ``namespace`` (plus the node's domains)."""
    return [f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *extra]


def candidates(name: str, search: Sequence[str], ndots: int = 5) -> list[str]:
    """The absolute names glibc tries for ``name``, in order."""
    if name.endswith("."):
        return [name]
    searched = [f"{name}.{s.rstrip('.')}." for s in search]
    if name.count(".") >= ndots:
        return [name + ".", *searched]
    return [*searched, name + "."]


@dataclass
class Resolution:
    answer: Answer
    tried: list[tuple[str, str]] = field(default_factory=list)  # (qname, rcode)

    @property
    def queries(self) -> int:
        return len(self.tried)

    def to_json(self) -> dict[str, Any]:
        out = self.answer.to_json()
        out["tried"] = [{"name": n, "rcode": r} for n, r in self.tried]
        return out


def _found(a: Answer) -> bool:
    return a.rcode == "NOERROR" and bool(a.answer)


def resolve(ask: Ask, name: str, qtype: str = "A", namespace: str = "default",
            domain: str = "cluster.local", ndots: int = 5,
            extra_search: Sequence[str] = ()) -> Resolution:
    """Resolve ``name`` as a ClusterFirst pod in ``namespace`` would."""
    res = Resolution(Answer(NXDOMAIN))
    nodata: Answer | None = None
    for qname in candidates(name, search_path(namespace, domain, extra_search), ndots):
        a = ask(qname, qtype)
        res.tried.append((qname, NODATA_RCODE if _nodata(a) else a.rcode))
        res.answer = a
        if _found(a):
            return res
        if nodata is None and _nodata(a):
            nodata = a
    if nodata is not None:
        res.answer = nodata
    return res


def _nodata(a: Answer) -> bool:
    return a.rcode == "NOERROR" and not a.answer


def zone_asker(zone: Zone, upstream: Ask | None = None) -> Ask:
    """Answers from ``zone``; names outside it go to ``upstream`` when given."""

    def ask(name: str, qtype: str) -> Answer:
        a = lookup(zone, name, qtype)
        if a is None:
            if upstream is not None:
                return upstream(name, qtype)
            return Answer(NXDOMAIN, authoritative=False,
                          comment=f"{name} is outside {zone.domain}: forwarded upstream in a "
                                  "live cluster, not resolved offline")
        if a.chase is not None and upstream is not None:
            more = upstream(*a.chase)
            a = Answer(more.rcode, [*a.answer, *more.answer], more.authority, a.additional,
                       authoritative=False)
        return a

    return ask


def from_message(msg: dnslib.DNSRecord) -> Answer:
    return Answer(RCODE_NAMES.get(msg.header.rcode, str(msg.header.rcode)),
                  records_of(msg.rr), records_of(msg.auth), records_of(msg.ar),
                  authoritative=bool(msg.header.aa))


MakeSocket = Callable[[int, int], socket.socket]  # (family, type) -> socket


class NoAnswer(OSError):
    """No server answered a query within its attempts."""


def _udp(packet: bytes, qid: int, addr: tuple[str, int], timeout: float, sock: socket.socket) -> bytes:
    sock.settimeout(timeout)
    sock.connect(addr)  # connected: ICMP errors surface, stray datagrams are dropped
    sock.send(packet)
    deadline = time.monotonic() + timeout
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        data = sock.recv(65535)
        if len(data) >= 2 and int.from_bytes(data[:2], "big") == qid:
            return data


def _tcp(packet: bytes, addr: tuple[str, int], timeout: float, sock: socket.socket) -> bytes:
    sock.settimeout(timeout)
    sock.connect(addr)
    sock.sendall(len(packet).to_bytes(2, "big") + packet)
    buf = b""
    while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
        chunk = sock.recv(65535)
        if not chunk:
            raise NoAnswer(f"{addr[0]}:{addr[1]} closed the TCP connection")
        buf += chunk
    return buf[2:2 + int.from_bytes(buf[:2], "big")]


def exchange(q: dnslib.DNSRecord, host: str, port: int = 53, timeout: float = 2.0,
             attempts: int = 2, tcp: bool = False, make_socket: MakeSocket | None = None
             ) -> dnslib.DNSRecord:
    """Send ``q`` as a stub resolver does: UDP, ``attempts`` tries of ``timeout`` seconds each
    from a fresh socket (so a fresh source port), over TCP when the answer is truncated.
    ``make_socket`` creates the sockets (e.g. inside another network namespace)."""
    make = make_socket or socket.socket
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    packet, addr = q.pack(), (host, port)
    last: Exception | None = None
    for _ in range(max(1, attempts)):
        try:
            if not tcp:
                with make(family, socket.SOCK_DGRAM) as s:
                    reply = dnslib.DNSRecord.parse(_udp(packet, q.header.id, addr, timeout, s))
                if not reply.header.tc:
                    return reply
            with make(family, socket.SOCK_STREAM) as s:
                return dnslib.DNSRecord.parse(_tcp(packet, addr, timeout, s))
        except (OSError, dnslib.DNSError) as e:
            last = e
    raise NoAnswer(f"no answer from {host}:{port} ({last or 'timed out'})")


def server_asker(host: str, port: int = 53, timeout: float = 2.0, tcp: bool = False,
                 attempts: int = 1, make_socket: MakeSocket | None = None) -> Ask:
    """Answers from a DNS server (real queries: what a pod's resolver does)."""

    def ask(name: str, qtype: str) -> Answer:
        q = dnslib.DNSRecord.question(name, qtype)
        return from_message(exchange(q, host, port, timeout, attempts, tcp, make_socket))

    return ask


def autopath_names(qname: str, namespace: str, domain: str,
                   extra: Sequence[str] = ()) -> list[str] | None:
    """The rest of the search for ``qname`` from a pod of ``namespace``, or None.

    ``web.default.svc.cluster.local`` asked by a pod of ``default`` gives
    ``[web.svc.cluster.local., web.cluster.local., web.]``: the search-path names
    the pod would try next, so the server can answer the first hit at once.
    """
    name = qname.rstrip(".").lower()
    suffix = f".{namespace}.svc.{domain}"
    if not name.endswith(suffix) or len(name) == len(suffix):
        return None
    base = name[: -len(suffix)]
    return [f"{base}.{s}." for s in search_path(namespace, domain, extra)[1:]] + [base + "."]
