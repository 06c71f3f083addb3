"""The DNS server: UDP and TCP on one address, cluster answers from the zone, the rest upstream.

One ``DNSServer`` serves one ``Zone`` on ``host:port`` in the running asyncio
loop. UDP datagrams are read in batches straight off a non-blocking socket
(``loop.add_reader``): a cache hit is answered inline by patching a ready
response (``podnet.dns.wire``), a cluster-name miss is looked up and encoded
inline too, and only what has to wait for the network — forwarding,
ExternalName chasing outside the zone, autopath's last step — becomes a task.
TCP connections carry length-prefixed queries and may send many.

Rules on top of ``podnet.dns.answer``: EDNS0 answers advertise 1232 bytes and
are cut to a TC=1 response when larger than the client's UDP size (512 without
EDNS); AXFR/IXFR are REFUSED; names the zone does not answer go to the
upstreams with a deadline and come back SERVFAIL when none answers; until the
zone's first sync cluster names are SERVFAIL. Sockets use SO_REUSEPORT so that
several worker processes share one port (``podnet.dns.daemon``).

With ``autopath`` on, a query ``X.NS.svc.<zone>`` from a pod of NS (found by
its source IP in the zone) that would be NXDOMAIN is answered with the first
hit of the rest of the pod's search path, as a CNAME from the asked name —
CoreDNS's autopath: one round trip instead of up to four per record type.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field

import dnslib

from podnet.dns.answer import lookup
from podnet.dns.forward import Forwarder, Upstream
from podnet.dns.records import NOERROR, NXDOMAIN, REFUSED, SERVFAIL, Answer, Record, fqdn
from podnet.dns.resolve import autopath_names, from_message
from podnet.dns.wire import WireCache, encode, error_response, quick_parse, truncated, udp_size
from podnet.dns.zone import Zone

log = logging.getLogger(__name__)
BATCH = 256
TCP_MAX = 65535


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 53
    upstreams: list[Upstream] = field(default_factory=list)
    timeout: float = 2.0
    autopath: bool = False
    search_extra: tuple[str, ...] = ()
    tcp_idle: float = 10.0


def bind_socket(host: str, port: int, kind: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if kind == socket.SOCK_DGRAM:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((host, port))
    s.setblocking(False)
    return s


class DNSServer:
    def __init__(self, zone: Zone, options: ServerOptions) -> None:
        self.zone = zone
        self.options = options
        self.cache = WireCache(zone)
        self.forwarder = Forwarder(options.upstreams, options.timeout)
        self.port = options.port
        self._udp: socket.socket | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._udp = bind_socket(self.options.host, self.options.port, socket.SOCK_DGRAM)
        self.port = self._udp.getsockname()[1]
        tcp = bind_socket(self.options.host, self.port, socket.SOCK_STREAM)
        tcp.listen(1024)
        self._tcp = await asyncio.start_server(self._tcp_client, sock=tcp)
        loop.add_reader(self._udp.fileno(), self._readable)

    async def close(self) -> None:
        if self._udp is not None:
            asyncio.get_running_loop().remove_reader(self._udp.fileno())
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None
        for t in list(self._tasks):
            t.cancel()

    # -- UDP --

    def _readable(self) -> None:
        sock = self._udp
        if sock is None:
            return
        cache = self.cache
        cache.check()  # zone changes land between batches, never inside one
        exact = cache.exact
        for _ in range(BATCH):
            try:
                data, addr = sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            tail = exact.get(data[2:])
            if tail is not None:
                try:
                    sock.sendto(data[:2] + tail, addr)
                except OSError:
                    pass
                continue
            qp = quick_parse(data)
            if qp is not None:
                ent = cache.get(qp[0])
                if ent is not None:
                    qend = qp[1]
                    full = ent[0] if len(ent[0]) <= qp[2] else ent[1]
                    out = data[:2] + full[2:12] + data[12:qend] + full[qend:]
                    cache.put_exact(data, out)
                    try:
                        sock.sendto(out, addr)
                    except OSError:
                        pass
                    continue
            self._udp_miss(data, addr, qp)

    def _udp_miss(self, data: bytes, addr: tuple[str, int],
                  qp: tuple[bytes, int, int] | None) -> None:
        resp, query = self._answer_now(data, addr[0], qp)
        if resp is None and query is not None:
            task = asyncio.get_running_loop().create_task(self._udp_later(query, data, addr))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        if resp is not None and self._udp is not None:
            limit = qp[2] if qp is not None else 512
            if len(resp) > limit:
                resp = truncated(resp)
            if qp is not None and self.cache.get(qp[0]) is not None:
                self.cache.put_exact(data, resp)
            try:
                self._udp.sendto(resp, addr)
            except OSError:
                pass

    async def _udp_later(self, query: dnslib.DNSRecord, data: bytes,
                         addr: tuple[str, int]) -> None:
        resp = await self._answer_later(query, data, addr[0], tcp=False)
        if len(resp) > udp_size(query):
            resp = truncated(resp)
        if self._udp is not None:
            try:
                self._udp.sendto(resp, addr)
            except OSError:
                pass

    # -- TCP --

    async def _tcp_client(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), self.options.tcp_idle)
                data = await asyncio.wait_for(reader.readexactly(int.from_bytes(head, "big")),
                                              self.options.tcp_idle)
                resp = await self.respond(data, peer[0], tcp=True)
                if resp is None:
                    break
                writer.write(len(resp).to_bytes(2, "big") + resp)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def respond(self, data: bytes, client_ip: str, tcp: bool = False) -> bytes | None:
        """The full response to one query (no UDP size limit applied)."""
        qp = quick_parse(data)
        if qp is not None:
            ent = self.cache.get(qp[0])
            if ent is not None:
                full = ent[0] if tcp or len(ent[0]) <= qp[2] else ent[1]
                return data[:2] + full[2:12] + data[12:qp[1]] + full[qp[1]:]
            qp = (qp[0], qp[1], TCP_MAX) if tcp else qp
        resp, query = self._answer_now(data, client_ip, qp)
        if resp is None and query is not None:
            resp = await self._answer_later(query, data, client_ip, tcp)
        return resp

    # -- answering --

    def _answer_now(self, data: bytes, client_ip: str, qp: tuple[bytes, int, int] | None,
                    ) -> tuple[bytes | None, dnslib.DNSRecord | None]:
        """(response, None) when it can be answered now; (None, query) when it must wait."""
        try:
            query = dnslib.DNSRecord.parse(data)
        except Exception:  # dnslib raises several kinds on garbage
            return None, None  # not even a header: drop, as servers do
        if query.header.qr:
            return None, None
        if query.header.opcode != 0:
            return error_response(query, "NOTIMP"), None
        if len(query.questions) != 1:
            return error_response(query, "FORMERR"), None
        if query.q.qclass != dnslib.CLASS.IN:
            return error_response(query, REFUSED), None
        version = self.zone.version
        ans = lookup(self.zone, str(query.q.qname), str(dnslib.QTYPE.get(query.q.qtype)))
        if ans is None or ans.chase is not None or self._autopath_applies(ans, client_ip):
            return None, query
        resp = encode(query, ans)
        if qp is not None and ans.rcode != SERVFAIL and not (
                self.options.autopath and ans.rcode == NXDOMAIN):
            self.cache.put(qp[0], resp, version)
        return resp, None

    def _autopath_applies(self, ans: Answer, client_ip: str) -> bool:
        return (self.options.autopath and ans.rcode == NXDOMAIN
                and self.zone.pod_namespace(client_ip) is not None)

    async def _answer_later(self, query: dnslib.DNSRecord, data: bytes, client_ip: str,
                            tcp: bool) -> bytes:
        try:
            qname, qtype = str(query.q.qname), str(dnslib.QTYPE.get(query.q.qtype))
            ans = lookup(self.zone, qname, qtype)
            if ans is None:
                fwd = await self.forwarder.forward(data, tcp) if self.forwarder.upstreams else None
                return fwd if fwd is not None else error_response(query, SERVFAIL)
            if self._autopath_applies(ans, client_ip):
                hit = await self._autopath(qname, qtype, client_ip)
                if hit is not None:
                    return encode(query, hit)
            if ans.chase is not None:
                ans = await self._chase(ans)
            return encode(query, ans)
        except Exception:
            log.exception("answering %s failed", query.q.qname)
            return error_response(query, SERVFAIL)

    async def _ask(self, name: str, qtype: str) -> Answer | None:
        """One name, in-zone or upstream, CNAME chased; None when nobody answered."""
        ans = lookup(self.zone, name, qtype)
        if ans is None:
            if not self.forwarder.upstreams:
                return None
            msg = await self.forwarder.resolve(name, qtype)
            return from_message(msg) if msg is not None else None
        if ans.chase is not None:
            ans = await self._chase(ans)
        return ans

    async def _chase(self, ans: Answer) -> Answer:
        assert ans.chase is not None
        target, qtype = ans.chase
        more = await self._ask(target, qtype) if self.forwarder.upstreams else None
        if more is None:  # no upstream, or it did not answer: the CNAME alone
            return Answer(NOERROR, ans.answer, [], ans.additional)
        return Answer(more.rcode, [*ans.answer, *more.answer], more.authority,
                      [*ans.additional, *more.additional], authoritative=False)

    async def _autopath(self, qname: str, qtype: str, client_ip: str) -> Answer | None:
        ns = self.zone.pod_namespace(client_ip)
        names = autopath_names(qname, ns, self.zone.domain, self.options.search_extra) \
            if ns else None
        names = names or []
        for i, name in enumerate(names):
            got = await self._ask(name, qtype)
            # a search-path name must have records to end the search (glibc goes on after
            # NODATA); the name as written ends it with any NOERROR, NODATA included
            last = i == len(names) - 1
            if got is not None and got.rcode == NOERROR and (got.answer or last):
                cname = Record(fqdn(qname), "CNAME", self.zone.ttl, name)
                return Answer(NOERROR, [cname, *got.answer], got.authority, got.additional,
                              authoritative=False)
        return None


def main(argv: list[str] | None = None) -> int:
    """The standalone DNS server process (``python -m podnet.dns.server --help``)."""
    from podnet.dns.daemon import run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
