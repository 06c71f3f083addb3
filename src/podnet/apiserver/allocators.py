"""Pure allocation of Service ClusterIPs and NodePorts.

Like Kubernetes (KEP-3070 and KEP-3668) each range has a small *static band* at
its start, kept for addresses and ports people pick by hand (10.96.0.1 for the
``kubernetes`` Service, 10.96.0.10 for DNS): random dynamic allocation tries the
upper band first and only falls back to the static band when the upper one is
full. Picks are random (as Kubernetes does) from the ``rng`` the caller passes,
so a seeded ``random.Random`` gives reproducible offline results.

These functions hold no state: the Registry keeps the table of what is in use.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Container


class RangeFull(Exception):
    """No free value is left in the range."""


def _static_band(size: int, minimum: int, maximum: int, divisor: int) -> int:
    return min(max(minimum, size // divisor), maximum)


def _pick(lo: int, hi: int, taken: Container[int], rng: random.Random) -> int | None:
    """A free integer in [lo, hi]: a few random tries, then a scan from a random start."""
    if hi < lo:
        return None
    for _ in range(32):
        cand = rng.randint(lo, hi)
        if cand not in taken:
            return cand
    width = hi - lo + 1
    start = rng.randint(0, width - 1)
    for i in range(width):
        cand = lo + (start + i) % width
        if cand not in taken:
            return cand
    return None


def _pick_banded(lo: int, hi: int, band: int, taken: Container[int], rng: random.Random) -> int:
    for a, b in ((lo + band, hi), (lo, min(hi, lo + band - 1))):
        got = _pick(a, b, taken, rng)
        if got is not None:
            return got
    raise RangeFull(f"range {lo}-{hi} is full")


class _Offsets:
    """Integers seen through a set of IP strings (offset i <-> network address + i)."""

    def __init__(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network, used: Container[str]):
        self.base = int(net.network_address)
        self.version = net.version
        self.used = used

    def __contains__(self, offset: object) -> bool:
        assert isinstance(offset, int)
        return str(ipaddress.ip_address(self.base + offset)) in self.used


def ip_in_range(cidr: str, ip: str) -> bool:
    """Whether ``ip`` is a usable address of ``cidr`` (not its network or broadcast address)."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if addr not in net:
        return False
    if net.version == 4 and net.num_addresses > 2:
        return addr not in (net.network_address, net.broadcast_address)
    return addr != net.network_address


def pick_cluster_ip(cidr: str, used: Container[str], rng: random.Random | None = None) -> str:
    """A free ClusterIP of ``cidr`` not in ``used`` (address strings); raises RangeFull.

    The network address and (IPv4) broadcast address are never handed out; the
    first min(max(16, size/16), 256) addresses form the static band.
    """
    net = ipaddress.ip_network(cidr, strict=False)
    size = net.num_addresses
    last = size - 2 if net.version == 4 else size - 1
    band = _static_band(size, 16, 256, 16)
    offset = _pick_banded(1, last, band - 1, _Offsets(net, used), rng or random.Random())
    return str(ipaddress.ip_address(int(net.network_address) + offset))


def pick_node_port(port_range: tuple[int, int], used: Container[int],
                   rng: random.Random | None = None) -> int:
    """A free NodePort in the inclusive ``port_range`` not in ``used``; raises RangeFull.

    The first min(max(16, size/32), 128) ports form the static band.
    """
    lo, hi = port_range
    band = _static_band(hi - lo + 1, 16, 128, 32)
    return _pick_banded(lo, hi, band, used, rng or random.Random())
