"""Forwarding to upstream resolvers, with a deadline: never hang, SERVFAIL instead.

``Forwarder.forward(query)`` sends the client's query (under a fresh random
ID) to each upstream in turn over UDP — then again over TCP when the answer
came back truncated and the client is on TCP — and returns the first answer
that matches the question, with the client's ID restored. Each upstream gets
``timeout`` seconds; when none answers it returns None and the server replies
SERVFAIL. ``resolve(name, qtype)`` asks a fresh question (for chasing an
ExternalName's CNAME outside the zone). Upstreams default to the
``nameserver`` lines of a resolv.conf, as CoreDNS's ``forward . /etc/resolv.conf``.

The UDP socket to an upstream is connected and has ``IP_RECVERR`` set, so an
ICMP "network/host unreachable" (an upstream the pod network cannot reach)
fails that try at once instead of after the timeout; without the option Linux
reports only "port unreachable" to UDP sockets.

A question no upstream answered is remembered for ``failure_ttl`` seconds (5,
CoreDNS's ``cache`` default for SERVFAIL) and fails at once meanwhile, so a
burst of lookups of an unreachable name (glibc's search path asks ``name.``
for A and AAAA, with retries) costs one timeout, not one each.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import socket
import time
from pathlib import Path

import dnslib

log = logging.getLogger(__name__)
Upstream = tuple[str, int]
IP_RECVERR, IPV6_RECVERR = 11, 25  # <linux/in.h>, <linux/in6.h>: not exported by Python 3.11


def parse_hostport(text: str, default_port: int = 53) -> Upstream:
    """``1.2.3.4``, ``1.2.3.4:5353``, ``[::1]:53`` or ``::1`` -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, default_port


def resolv_conf_nameservers(path: str | Path = "/etc/resolv.conf") -> list[Upstream]:
    out: list[Upstream] = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                ipaddress.ip_address(parts[1].split("%")[0])
            except ValueError:
                continue
            out.append((parts[1], 53))
    return out


class _OneShot(asyncio.DatagramProtocol):
    def __init__(self, want_id: bytes, question: bytes) -> None:
        self.want_id = want_id
        self.question = question
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        # accept only the answer to our question under our ID (anti-spoofing, stray packets)
        if data[:2] == self.want_id and data[12:12 + len(self.question)].lower() == \
                self.question and not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


def _question_bytes(query: bytes) -> bytes:
    i = 12
    while query[i]:
        i += query[i] + 1
    return query[12:i + 5].lower()


class Forwarder:
    def __init__(self, upstreams: list[Upstream], timeout: float = 2.0,
                 failure_ttl: float = 5.0) -> None:
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self.failure_ttl = failure_ttl
        self._failed: dict[bytes, float] = {}  # question -> until (monotonic)

    async def forward(self, query: bytes, tcp: bool = False) -> bytes | None:
        """The upstream's answer to ``query`` (client ID kept), or None when none answered."""
        if len(query) < 17:
            return None
        question = _question_bytes(query)
        now = time.monotonic()
        if self._failed.get(question, 0.0) > now:
            return None
        client_id, new_id = query[:2], secrets.token_bytes(2)
        out = new_id + query[2:]
        for host, port in self.upstreams:
            try:
                resp = await asyncio.wait_for(self._udp(out, host, port), self.timeout)
            except (TimeoutError, OSError, ValueError) as e:
                log.debug("upstream %s:%s failed: %r", host, port, e)
                continue
            try:
                if tcp and resp[2] & 0x02:  # truncated, and the client can take more
                    resp = await asyncio.wait_for(self._tcp(out, host, port), self.timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as e:
                log.debug("upstream %s:%s over TCP failed: %r", host, port, e)
            return client_id + resp[2:]
        if self.failure_ttl > 0:
            if len(self._failed) > 10000:
                self._failed = {q: t for q, t in self._failed.items() if t > now}
            self._failed[question] = time.monotonic() + self.failure_ttl
        return None

    async def _udp(self, query: bytes, host: str, port: int) -> bytes:
        loop = asyncio.get_running_loop()
        v6 = ":" in host
        sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP,
                            IPV6_RECVERR if v6 else IP_RECVERR, 1)
            sock.setblocking(False)
            sock.connect((host, port))
        except OSError:
            sock.close()
            raise
        transport, proto = await loop.create_datagram_endpoint(
            lambda: _OneShot(query[:2], _question_bytes(query)), sock=sock)
        try:
            transport.sendto(query)
            return await proto.done
        finally:
            transport.close()

    async def _tcp(self, query: bytes, host: str, port: int) -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(len(query).to_bytes(2, "big") + query)
            await writer.drain()
            n = int.from_bytes(await reader.readexactly(2), "big")
            resp = await reader.readexactly(n)
            if resp[:2] != query[:2]:
                raise ValueError("upstream answered another ID")
            return resp
        finally:
            writer.close()

    async def resolve(self, name: str, qtype: str) -> dnslib.DNSRecord | None:
        """Ask the upstreams ``name``/``qtype`` afresh; the parsed answer or None."""
        q = dnslib.DNSRecord.question(name, qtype)
        resp = await self.forward(bytes(q.pack()))
        if resp is None:
            return None
        try:
            return dnslib.DNSRecord.parse(resp)
        except dnslib.DNSError:
            return None
