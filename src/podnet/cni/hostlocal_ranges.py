"""host-local IPAM configuration: range sets, their defaults and validation (pure).

The ``ipam`` section is read the way the reference host-local reads it:
``ranges`` is a list of *range sets*; one address is allocated from each set,
and a set is a list of ranges tried in order. The legacy single-range form
(``subnet``/``rangeStart``/``rangeEnd``/``gateway`` directly under ``ipam``)
is one set with one range. ``runtimeConfig.ipRanges`` (capability
``ipRanges``) replaces ``ranges`` when present. Any problem is error code 7.

Defaults per range: ``rangeStart`` = first address after the network address,
``rangeEnd`` = last address before broadcast (IPv4) or the last address (IPv6),
``gateway`` = the first address of the subnet. The gateway is never handed out.
"""

from __future__ import annotations

import ipaddress

from podnet.cni import errors
from podnet.cni.errors import CniError
from podnet.cni.hostlocal_store import DEFAULT_DATA_DIR

__all__ = ["DEFAULT_DATA_DIR", "IP", "Range", "next_candidates", "parse_range", "parse_range_sets",
           "parse_routes", "requested_ips"]

TYPE_CHECKING = False  # start-up speed: typing/collections only for the type checker
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def _bad(details: str) -> CniError:
    return CniError(errors.INVALID_CONFIG, "invalid host-local configuration", details)


class Range:
    """One range of a range set (a plain class: NamedTuple would import typing)."""

    __slots__ = ("end", "gateway", "start", "subnet")

    def __init__(self, subnet: Net, start: IP, end: IP, gateway: IP | None) -> None:
        self.subnet = subnet
        self.start = start
        self.end = end
        self.gateway = gateway

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Range) and (self.subnet, self.start, self.end, self.gateway) == (
            other.subnet, other.start, other.end, other.gateway)

    def __hash__(self) -> int:
        return hash((self.subnet, self.start, self.end, self.gateway))

    def __repr__(self) -> str:
        return f"Range({self.subnet}, {self.start}-{self.end}, gateway={self.gateway})"

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, type(self.start)) and int(self.start) <= int(ip) <= int(self.end)

    def size(self) -> int:
        count = int(self.end) - int(self.start) + 1
        return count - (1 if self.gateway is not None and self.gateway in self else 0)

    def overlaps(self, other: Range) -> bool:
        return (self.subnet.version == other.subnet.version
                and int(self.start) <= int(other.end) and int(other.start) <= int(self.end))

    def addresses_from(self, first: IP) -> Iterator[IP]:
        """The allocatable addresses from ``first`` (inclusive) to the end."""
        cls = type(self.start)
        for value in range(max(int(first), int(self.start)), int(self.end) + 1):
            ip = cls(value)
            if ip != self.gateway:
                yield ip


def _ip(value: Any, key: str) -> IP:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise _bad(f"{key}: {value!r} is not an IP address") from None


def parse_range(spec: Any) -> Range:
    if not isinstance(spec, dict) or not spec.get("subnet"):
        raise _bad("every range needs a subnet")
    try:
        subnet = ipaddress.ip_network(str(spec["subnet"]), strict=False)
    except ValueError:
        raise _bad(f"subnet: {spec['subnet']!r} is not a CIDR") from None
    if subnet.max_prefixlen - subnet.prefixlen < 2:
        raise _bad(f"Network {spec['subnet']} too small to allocate from")
    last = subnet.broadcast_address - 1 if subnet.version == 4 else subnet.broadcast_address
    start = _ip(spec["rangeStart"], "rangeStart") if spec.get("rangeStart") else subnet[1]
    end = _ip(spec["rangeEnd"], "rangeEnd") if spec.get("rangeEnd") else last
    gateway = _ip(spec["gateway"], "gateway") if spec.get("gateway") else subnet[1]
    for key, ip in (("rangeStart", start), ("rangeEnd", end)):
        if ip not in subnet or ip == subnet.network_address or (
                subnet.version == 4 and ip == subnet.broadcast_address):
            raise _bad(f"{key} {ip} is not a usable address of {subnet}")
    if int(start) > int(end):
        raise _bad(f"rangeStart {start} is after rangeEnd {end}")
    return Range(subnet, start, end, gateway)


def parse_range_sets(ipam: dict[str, Any], runtime_config: dict[str, Any]) -> list[list[Range]]:
    """All range sets of an ``ipam`` section, validated (no overlaps anywhere)."""
    raw = runtime_config.get("ipRanges") or ipam.get("ranges")
    if raw is None and ipam.get("subnet"):
        raw = [[{k: ipam[k] for k in ("subnet", "rangeStart", "rangeEnd", "gateway") if k in ipam}]]
    if not raw or not isinstance(raw, list):
        raise _bad("no IP ranges: set ipam.ranges (or ipam.subnet)")
    sets: list[list[Range]] = []
    for raw_set in raw:
        if not isinstance(raw_set, list) or not raw_set:
            raise _bad("every entry of ranges must be a non-empty list of ranges")
        sets.append([parse_range(spec) for spec in raw_set])
    flat = [r for s in sets for r in s]
    for i, a in enumerate(flat):
        for b in flat[i + 1 :]:
            if a.overlaps(b):
                raise _bad(f"ranges {a.start}-{a.end} and {b.start}-{b.end} overlap")
    return sets


def parse_routes(ipam: dict[str, Any]) -> list[dict[str, Any]]:
    routes = ipam.get("routes") or []
    if not isinstance(routes, list):
        raise _bad("routes must be a list")
    out = []
    for route in routes:
        if not isinstance(route, dict) or "dst" not in route:
            raise _bad(f"route {route!r} needs a dst")
        try:
            ipaddress.ip_network(str(route["dst"]), strict=False)
            if route.get("gw"):
                ipaddress.ip_address(str(route["gw"]))
        except ValueError as err:
            raise _bad(f"route {route!r}: {err}") from None
        out.append(dict(route))
    return out


def requested_ips(config: dict[str, Any], cni_args: dict[str, str]) -> list[IP]:
    """Specific IPs asked for: runtimeConfig.ips, args.cni.ips, else CNI_ARGS IP=."""
    asked = (config.get("runtimeConfig") or {}).get("ips") or (
        ((config.get("args") or {}).get("cni") or {}).get("ips"))
    if not asked and cni_args.get("IP"):
        asked = cni_args["IP"].split(",")
    return [_ip(str(v).split("/")[0], "ips") for v in (asked or [])]


def next_candidates(ranges: list[Range], last: IP | None) -> Iterator[IP]:
    """Round-robin order: after ``last`` to the end of the set, then from the start."""
    pos = 0
    if last is not None:
        for i, r in enumerate(ranges):
            if last in r:
                pos = i
                break
        else:
            last = None
    if last is None:
        for r in ranges:
            yield from r.addresses_from(r.start)
        return
    cls = type(last)
    yield from ranges[pos].addresses_from(cls(int(last) + 1))
    for r in ranges[pos + 1 :] + ranges[:pos]:
        yield from r.addresses_from(r.start)
    yield from (ip for ip in ranges[pos].addresses_from(ranges[pos].start) if int(ip) <= int(last))
