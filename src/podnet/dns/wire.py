"""Wire format: encoding answers with dnslib, and the cache of ready responses.

The hot path of the server never builds a message. ``quick_parse`` reads just
enough of a query (header checks, the question's extent, an EDNS0 OPT record's
UDP size) to form the cache key: the lowercased question name, the raw type
and class, and the flags a response depends on (RD, CD, EDNS present). A hit
is a ready response; the server writes the query's ID and the query's own
question bytes over it. Because dnslib compresses every owner name equal to
the question into a pointer to offset 12, copying the client's question (the
same length: it differs only in case) echoes the client's case in the whole
answer for free.

``encode`` builds a response on a miss: header (AA for our answers, RA, RD and
CD echoed), the question as asked, the records, and an OPT record when the
query had one. ``truncated`` is the TC=1 response that replaces an answer too
large for the client's UDP size. ``WireCache`` drops everything whenever the
zone's ``version`` moves, so a watch event invalidates all cached answers
before the next query is served. In front of it sits an exact-bytes level
(the whole query after its ID): a resolver repeating a question in the same
case gets its answer with one dict lookup and no parsing.
"""

from __future__ import annotations

import dnslib

from podnet.dns.records import Answer, Record
from podnet.dns.zone import Zone

RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}
RCODE_NAMES = {v: k for k, v in RCODES.items()}
EDNS_UDP_SIZE = 1232  # what we advertise (the DNS flag day 2020 value)
PLAIN_UDP_SIZE = 512


def quick_parse(data: bytes) -> tuple[bytes, int, int] | None:
    """``(cache key, end of question, client UDP size)`` of a plain query, else None.

    None means "take the slow path": not a standard query with one question,
    a malformed name, or records other than one OPT after the question.
    """
    n = len(data)
    if n < 17 or data[2] & 0xF8 or data[4:10] != b"\x00\x01\x00\x00\x00\x00":
        return None
    i = 12
    while True:
        ln = data[i]
        if ln == 0:
            break
        if ln > 63:
            return None
        i += ln + 1
        if i >= n:
            return None
    qend = i + 5
    if qend > n:
        return None
    size = PLAIN_UDP_SIZE
    edns = 0
    if data[10] or data[11]:
        if data[10] or data[11] != 1 or n < qend + 11 or data[qend:qend + 3] != b"\x00\x00\x29":
            return None
        size = max(PLAIN_UDP_SIZE, (data[qend + 3] << 8) | data[qend + 4])
        edns = 1
    key = data[12:i].lower() + data[i:qend] + bytes((data[2] & 0x01, data[3] & 0x10, edns))
    return key, qend, size


def _rdata(r: Record) -> dnslib.RD:
    t = r.type
    if t == "A":
        return dnslib.A(r.data)
    if t == "AAAA":
        return dnslib.AAAA(r.data)
    if t in ("CNAME", "PTR", "NS"):
        return {"CNAME": dnslib.CNAME, "PTR": dnslib.PTR, "NS": dnslib.NS}[t](r.data)
    if t == "TXT":
        return dnslib.TXT(r.data.strip('"'))
    if t == "SRV":
        pri, weight, port, target = r.data.split()
        return dnslib.SRV(int(pri), int(weight), int(port), target)
    if t == "SOA":
        mname, rname, *times = r.data.split()
        return dnslib.SOA(mname, rname, tuple(int(x) for x in times))
    raise ValueError(f"cannot encode {t} records")


def _rr(r: Record) -> dnslib.RR:
    return dnslib.RR(r.name, getattr(dnslib.QTYPE, r.type), ttl=r.ttl, rdata=_rdata(r))


def encode(query: dnslib.DNSRecord, answer: Answer) -> bytes:
    """The response to ``query`` carrying ``answer``."""
    h = query.header
    reply = dnslib.DNSRecord(
        dnslib.DNSHeader(id=h.id, qr=1, aa=int(answer.authoritative), ra=1, rd=h.rd,
                         rcode=RCODES[answer.rcode]),
        q=query.q,
    )
    reply.header.cd = h.cd
    for r in answer.answer:
        reply.add_answer(_rr(r))
    for r in answer.authority:
        reply.add_auth(_rr(r))
    for r in answer.additional:
        reply.add_ar(_rr(r))
    if has_edns(query):
        reply.add_ar(dnslib.EDNS0(udp_len=EDNS_UDP_SIZE))
    return bytes(reply.pack())


def error_response(query: dnslib.DNSRecord, rcode: str) -> bytes:
    return encode(query, Answer(rcode, authoritative=False))


def has_edns(query: dnslib.DNSRecord) -> bool:
    return any(r.rtype == dnslib.QTYPE.OPT for r in query.ar)


def udp_size(query: dnslib.DNSRecord) -> int:
    for r in query.ar:
        if r.rtype == dnslib.QTYPE.OPT:
            return max(PLAIN_UDP_SIZE, int(r.rclass))
    return PLAIN_UDP_SIZE


def truncated(response: bytes) -> bytes:
    """The TC=1 form of ``response``: header and question only (plus OPT when present)."""
    msg = dnslib.DNSRecord.parse(response)
    msg.header.tc = 1
    msg.rr, msg.auth = [], []
    msg.ar = [r for r in msg.ar if r.rtype == dnslib.QTYPE.OPT]
    return bytes(msg.pack())


def records_of(rrs: list[dnslib.RR]) -> list[Record]:
    """dnslib records (an upstream's answer) as plain ``Record`` values."""
    out = []
    for rr in rrs:
        if rr.rtype == dnslib.QTYPE.OPT:
            continue
        out.append(Record(str(rr.rname), dnslib.QTYPE.get(rr.rtype), rr.ttl, str(rr.rdata)))
    return out


class WireCache:
    """Ready responses keyed by ``quick_parse``'s key, valid for one zone version."""

    def __init__(self, zone: Zone, max_entries: int = 50_000) -> None:
        self.zone = zone
        self.max_entries = max_entries
        self.version = zone.version
        self.entries: dict[bytes, tuple[bytes, bytes]] = {}
        # first level: the exact query bytes after the ID -> the response after the ID
        # (what repeated queries from one resolver hit; no parsing at all)
        self.exact: dict[bytes, bytes] = {}

    def check(self) -> None:
        """Drop everything if the zone changed since the entries were made."""
        if self.version != self.zone.version:
            self.entries.clear()
            self.exact.clear()
            self.version = self.zone.version

    def get(self, key: bytes) -> tuple[bytes, bytes] | None:
        self.check()
        return self.entries.get(key)

    def put_exact(self, query: bytes, response: bytes) -> None:
        if len(self.exact) >= self.max_entries:
            self.exact.clear()
        self.exact[query[2:]] = response[2:]

    def put(self, key: bytes, response: bytes, version: int) -> None:
        """Store ``response`` (built against zone ``version``) and its truncated form."""
        if version != self.zone.version:
            return  # the zone changed while this answer was being built
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
        self.entries[key] = (response, truncated(response))
