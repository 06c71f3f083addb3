"""Query name and type -> answer, from a ``Zone``: the Kubernetes DNS schema 1.1.0.

``lookup(zone, qname, qtype)`` is the one semantic core behind the server's
cluster answers and the offline ``podnet dns``. It returns ``None`` for names
this zone does not answer (outside the zone, or a reverse name for an IP it
does not know): the server forwards those upstream (CoreDNS's ``fallthrough``
for the reverse zones), the offline resolver reports them as outside.

Names below the zone parse as CoreDNS's kubernetes plugin parses them::

    <svc>.<ns>.svc.<zone>                     Service
    <hostname>.<svc>.<ns>.svc.<zone>          one endpoint (headless or not)
    _<port>._<proto>.<svc>.<ns>.svc.<zone>    SRV of a port (A/AAAA too, as CoreDNS)
    <a-b-c-d>.<ns>.pod.<zone>                 pod A record (pods insecure|verified)
    dns-version.<zone>                        TXT "1.1.0"

and the rules where the spec is silent follow CoreDNS, with standard DNS
semantics on top: an existing name asked for another type is NODATA (NOERROR,
the zone SOA in authority) — the apex, ``svc.<zone>``, ``pod.<zone>`` and
``<ns>.svc.<zone>`` included — while a missing name is NXDOMAIN with the SOA.
A namespace exists when a Namespace object exists or any Service or Pod is in
it. A CNAME (ExternalName) is followed inside the zone in the same answer; a
target outside is left in ``Answer.chase`` for the upstream.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from podnet.dns.records import NOERROR, NXDOMAIN, REFUSED, SERVFAIL, Answer, Record, fqdn
from podnet.dns.zone import NO_PORT, Port, ServiceRecord, Zone

SCHEMA_VERSION = "1.1.0"
VERSION_TTL = 28800  # CoreDNS answers dns-version with this TTL
MAX_CHASE = 8
REVERSE_ZONES = ("in-addr.arpa", "ip6.arpa")


@dataclass(frozen=True)
class Entry:
    """One (address, port) a name stands for, and the name SRV records target."""

    host: str  # an IP address, or a CNAME target
    port: Port
    target: str  # FQDN without the trailing dot


class NameError_(Exception):
    """The name does not exist (NXDOMAIN)."""


def lookup(zone: Zone, qname: str, qtype: str, _depth: int = 0) -> Answer | None:
    """The answer for ``qname``/``qtype``, or None when this zone does not answer it."""
    qtype = qtype.upper()
    if qtype in ("AXFR", "IXFR"):
        return Answer(REFUSED)
    name = qname.rstrip(".").lower()
    owner = fqdn(qname)
    if name == zone.domain or name.endswith("." + zone.domain):
        if not zone.synced:
            return Answer(SERVFAIL)
        rel = name[: -len(zone.domain)].rstrip(".")
        return _in_zone(zone, owner, rel, qtype, _depth)
    for rz in REVERSE_ZONES:
        if name == rz or name.endswith("." + rz):
            return _reverse(zone, owner, name, rz, qtype)
    return None


def soa(zone: Zone, origin: str | None = None) -> Record:
    """The zone SOA as CoreDNS writes it (``ns.dns.<zone>. hostmaster.<zone>.``)."""
    o = origin or zone.domain
    return Record(fqdn(o), "SOA", min(300, zone.ttl),
                  f"ns.dns.{o}. hostmaster.{o}. {zone.serial} 7200 1800 86400 {zone.ttl}")


def _negative(zone: Zone, rcode: str, origin: str | None = None) -> Answer:
    return Answer(rcode, authority=[soa(zone, origin)])


def _in_zone(zone: Zone, owner: str, rel: str, qtype: str, depth: int) -> Answer:
    labels = rel.split(".") if rel else []
    try:
        if not labels:
            return _apex(zone, owner, qtype)
        if rel == "dns-version":
            if qtype == "TXT":
                return Answer(answer=[Record(owner, "TXT", VERSION_TTL, f'"{SCHEMA_VERSION}"')])
            return _negative(zone, NOERROR)
        if labels[-1] == "dns":
            return _ns_dns(zone, owner, labels, qtype)
        if labels[-1] == "pod":
            return _pod(zone, owner, labels, qtype)
        if labels[-1] != "svc":
            raise NameError_
        return _svc(zone, owner, labels, qtype, depth)
    except NameError_:
        return _negative(zone, NXDOMAIN)


def _apex(zone: Zone, owner: str, qtype: str) -> Answer:
    if qtype == "SOA":
        s = soa(zone)
        return Answer(answer=[Record(owner, "SOA", s.ttl, s.data)])
    if qtype == "NS":
        ns = f"ns.dns.{zone.domain}."
        extra = [Record(ns, "AAAA" if ":" in ip else "A", zone.ttl, ip)
                 for ip in zone.dns_service_ips()]
        return Answer(answer=[Record(owner, "NS", zone.ttl, ns)], additional=extra)
    return _negative(zone, NOERROR)


def _ns_dns(zone: Zone, owner: str, labels: list[str], qtype: str) -> Answer:
    """``dns.<zone>`` (an empty non-terminal) and ``ns.dns.<zone>`` (the kube-dns IPs)."""
    if labels == ["dns"]:
        return _negative(zone, NOERROR)
    if labels != ["ns", "dns"]:
        raise NameError_
    want = {"A": 4, "AAAA": 6}.get(qtype)
    recs = [Record(owner, qtype, zone.ttl, ip) for ip in zone.dns_service_ips()
            if want and ipaddress.ip_address(ip).version == want]
    return Answer(answer=recs) if recs else _negative(zone, NOERROR)


def _pod(zone: Zone, owner: str, labels: list[str], qtype: str) -> Answer:
    if len(labels) == 1:
        return _negative(zone, NOERROR)
    ns = labels[-2]
    if len(labels) == 2:
        if zone.namespace_exists(ns):
            return _negative(zone, NOERROR)
        raise NameError_
    if len(labels) != 3 or zone.pod_mode == "disabled":
        raise NameError_
    podname = labels[0]
    if podname.count("-") == 3 and "--" not in podname:
        text = podname.replace("-", ".")
    else:
        text = podname.replace("-", ":")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise NameError_ from None
    if zone.pod_mode == "verified" and not zone.pod_exists(ns, str(ip)):
        raise NameError_
    if zone.pod_mode != "verified" and not zone.namespace_exists(ns):
        raise NameError_
    rtype = "A" if ip.version == 4 else "AAAA"
    if qtype != rtype:
        return _negative(zone, NOERROR)
    return Answer(answer=[Record(owner, rtype, zone.ttl, str(ip))])


def _svc(zone: Zone, owner: str, labels: list[str], qtype: str, depth: int) -> Answer:
    parts = labels[:-1]  # without "svc"
    if not parts:
        return _negative(zone, NOERROR)
    ns = parts[-1]
    if len(parts) == 1:
        if zone.namespace_exists(ns):
            return _negative(zone, NOERROR)
        raise NameError_
    rec = zone.services.get((ns, parts[-2]))
    if rec is None:
        raise NameError_
    rest = parts[:-2]
    endpoint = port = proto = ""
    if len(rest) == 1:
        endpoint = rest[0]
    elif len(rest) == 2:
        port, proto = rest[0].removeprefix("_"), rest[1].removeprefix("_")
    elif rest:
        raise NameError_
    if rec.kind == "ExternalName":
        if rest:
            raise NameError_  # nothing exists below an ExternalName
        return _external(zone, owner, rec, qtype, depth)
    entries = _entries(zone, rec, endpoint, port, proto)
    if not entries:
        raise NameError_
    return _typed(zone, owner, entries, qtype)


def _matches(p: Port, port: str, proto: str) -> bool:
    return (not port or port == p.name) and (not proto or proto == p.protocol)


def _entries(zone: Zone, rec: ServiceRecord, endpoint: str, port: str, proto: str) -> list[Entry]:
    out: list[Entry] = []
    base = f"{rec.name}.{rec.namespace}.svc.{zone.domain}"
    if rec.kind == "Headless" or endpoint:
        for e in zone.endpoints(rec.namespace, rec.name):
            if endpoint and e.hostname != endpoint:
                continue
            for p in e.ports:
                if _matches(p, port, proto):
                    out.append(Entry(e.ip, p, f"{e.hostname}.{base}"))
        return out
    for p in rec.ports or (NO_PORT,):
        if _matches(p, port, proto):
            out.extend(Entry(ip, p, base) for ip in rec.cluster_ips)
    return out


def _addr_type(ip: str) -> str:
    return "AAAA" if ":" in ip else "A"


def _typed(zone: Zone, owner: str, entries: list[Entry], qtype: str) -> Answer:
    if qtype in ("A", "AAAA"):
        seen: set[str] = set()
        recs = []
        for e in entries:
            if _addr_type(e.host) == qtype and e.host not in seen:
                seen.add(e.host)
                recs.append(Record(owner, qtype, zone.ttl, e.host))
        return Answer(answer=recs) if recs else _negative(zone, NOERROR)
    if qtype == "SRV":
        return _srv(zone, owner, entries)
    return _negative(zone, NOERROR)


def _srv(zone: Zone, owner: str, entries: list[Entry]) -> Answer:
    """CoreDNS's SRV: priority 0, weight floor(100/N) (min 1) over all N candidates,
    one record per (target, port), the targets' addresses in additional."""
    weight = max(1, 100 // len(entries))
    recs: list[Record] = []
    extra: list[Record] = []
    seen_srv: set[tuple[str, int]] = set()
    seen_addr: set[tuple[str, str]] = set()
    for e in entries:
        if e.port.port < 0:
            continue
        if (e.target, e.port.port) not in seen_srv:
            seen_srv.add((e.target, e.port.port))
            recs.append(Record(owner, "SRV", zone.ttl, f"0 {weight} {e.port.port} {e.target}."))
        if (e.target, e.host) not in seen_addr:
            seen_addr.add((e.target, e.host))
            extra.append(Record(e.target + ".", _addr_type(e.host), zone.ttl, e.host))
    if not recs:
        return _negative(zone, NOERROR)
    return Answer(answer=recs, additional=extra)


def _external(zone: Zone, owner: str, rec: ServiceRecord, qtype: str, depth: int) -> Answer:
    target = rec.external_name
    if not target:
        raise NameError_
    try:
        ip = ipaddress.ip_address(target)  # CoreDNS serves an IP-valued externalName as A/AAAA
    except ValueError:
        ip = None
    if ip is not None:
        rtype = "A" if ip.version == 4 else "AAAA"
        if qtype != rtype:
            return _negative(zone, NOERROR)
        return Answer(answer=[Record(owner, rtype, zone.ttl, str(ip))])
    cname = Record(owner, "CNAME", zone.ttl, fqdn(target))
    if qtype == "CNAME":
        return Answer(answer=[cname])
    if target == owner.rstrip(".").lower() or depth >= MAX_CHASE:
        return Answer(answer=[cname])
    inner = lookup(zone, target, qtype, depth + 1)
    if inner is None:  # outside the zone: the upstream finishes it
        return Answer(answer=[cname], chase=(fqdn(target), qtype))
    return Answer(inner.rcode, [cname, *inner.answer], inner.authority, inner.additional,
                  inner.chase)


def reverse_ip(name: str, rz: str) -> str | None:
    """The IP a full reverse name stands for (``5.1.244.10.in-addr.arpa`` -> 10.244.1.5)."""
    labels = name[: -len(rz)].rstrip(".").split(".")
    try:
        if rz == "in-addr.arpa" and len(labels) == 4:
            return str(ipaddress.IPv4Address(".".join(reversed(labels))))
        if rz == "ip6.arpa" and len(labels) == 32 and all(len(x) == 1 for x in labels):
            h = "".join(reversed(labels))
            return str(ipaddress.IPv6Address(":".join(h[i:i + 4] for i in range(0, 32, 4))))
    except ValueError:
        return None
    return None


def _reverse(zone: Zone, owner: str, name: str, rz: str, qtype: str) -> Answer | None:
    ip = reverse_ip(name, rz)
    names = zone.reverse(ip) if ip else []
    if not names:
        return None
    if not zone.synced:
        return Answer(SERVFAIL)
    if qtype != "PTR":
        return _negative(zone, NOERROR, rz)
    return Answer(answer=[Record(owner, "PTR", zone.ttl, n + ".") for n in names])
