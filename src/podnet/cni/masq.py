"""ipMasq for podnet-bridge: one podnet-owned nft table, one map element per pod IP.

Table ``inet podnet-cni-nat`` (in the namespace the plugin runs in)::

    chain postrouting { type nat hook postrouting priority srcnat; }
        ip saddr vmap @masq4        ip6 saddr vmap @masq6
    chain masq-<hash(network, subnet)>
        ip daddr != SUBNET ip daddr != 224.0.0.0/4 masquerade
    map masq4 { 10.250.1.5 comment "NETWORK/CONTAINERID/IFNAME" : jump masq-... }

So a pod's traffic is masqueraded when it leaves its own subnet, the per-pod
state is exactly one map element whose comment names the attachment (DEL, GC
and CHECK find it by that), and when the last element goes the whole table
goes. Every change is one ``nft -f -`` transaction; changes that read first
(DEL, GC) hold an flock so a concurrent ADD cannot slip in between.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import os

from podnet.kernel import nft

TYPE_CHECKING = False  # start-up speed: typing only for the type checker
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

FAMILY, TABLE = "inet", "podnet-cni-nat"
_T = f"{FAMILY} {TABLE}"
LOCK_DIR = "/run/podnet"


def chain_name(network: str, subnet: str) -> str:
    return "masq-" + hashlib.sha1(f"{network}|{subnet}".encode()).hexdigest()[:12]


def comment(network: str, container_id: str, ifname: str) -> str:
    return f"{network}/{container_id}/{ifname}"


def render_add(network: str, container_id: str, ifname: str, cidrs: list[str]) -> str:
    """The transaction that masquerades ``cidrs`` (pod addresses with prefix)."""
    lines = [
        f"add table {_T}",
        f"add chain {_T} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}",
        f"add map {_T} masq4 {{ type ipv4_addr : verdict; }}",
        f"add map {_T} masq6 {{ type ipv6_addr : verdict; }}",
        f"flush chain {_T} postrouting",
        f"add rule {_T} postrouting ip saddr vmap @masq4",
        f"add rule {_T} postrouting ip6 saddr vmap @masq6",
    ]
    note = comment(network, container_id, ifname)
    for cidr in cidrs:
        iface = ipaddress.ip_interface(cidr)
        subnet = str(iface.network)
        chain = chain_name(network, subnet)
        proto, mcast = ("ip", "224.0.0.0/4") if iface.version == 4 else ("ip6", "ff00::/8")
        lines += [
            f"add chain {_T} {chain}",
            f"flush chain {_T} {chain}",
            f"add rule {_T} {chain} {proto} daddr != {subnet} {proto} daddr != {mcast} masquerade",
            f'add element {_T} masq{iface.version} {{ {iface.ip} comment "{note}" : jump {chain} }}',
        ]
    return "\n".join(lines) + "\n"


def elements(table: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(ip version, ip, comment) of every element of both maps in a listed table."""
    out = []
    for item in table:
        m = item.get("map")
        if not m or m.get("name") not in ("masq4", "masq6"):
            continue
        version = 4 if m["name"] == "masq4" else 6
        for pair in m.get("elem", []):
            key = pair[0] if isinstance(pair, list) else pair
            if isinstance(key, dict) and "elem" in key:
                out.append((version, str(key["elem"].get("val")), str(key["elem"].get("comment", ""))))
            else:
                out.append((version, str(key), ""))
    return out


def render_remove(all_elems: list[tuple[int, str, str]], doomed: list[tuple[int, str, str]]) -> str:
    """Delete ``doomed``; the whole table when nothing would be left."""
    if len(doomed) >= len(all_elems):
        return f"delete table {_T}\n"
    return "".join(f"delete element {_T} masq{v} {{ {ip} }}\n" for v, ip, _c in doomed)


def _lock() -> int:
    """Take this namespace's masquerade lock; closing the returned fd releases it."""
    os.makedirs(LOCK_DIR, exist_ok=True)
    st = os.stat("/proc/thread-self/ns/net")
    fd = os.open(f"{LOCK_DIR}/cni-masq-{st.st_ino}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def add(network: str, container_id: str, ifname: str, cidrs: list[str]) -> None:
    if cidrs:
        fd = _lock()
        try:
            nft.apply(render_add(network, container_id, ifname, cidrs))
        finally:
            os.close(fd)


def _remove_where(pred: Callable[[str], bool]) -> None:
    fd = _lock()
    try:
        table = nft.table(FAMILY, TABLE)
        if table is None:
            return
        elems = elements(table)
        script = render_remove(elems, [e for e in elems if pred(e[2])])
        if script:
            nft.apply(script)
    finally:
        os.close(fd)


def remove(network: str, container_id: str, ifname: str) -> None:
    """Drop the attachment's elements (no error when there are none)."""
    note = comment(network, container_id, ifname)
    _remove_where(lambda c: c == note)


def gc(network: str, valid: set[tuple[str, str]]) -> None:
    """Drop this network's elements whose attachment is not in ``valid``."""
    keep = {comment(network, cid, ifname) for cid, ifname in valid}
    _remove_where(lambda c: c.startswith(f"{network}/") and c not in keep)


def present(network: str, container_id: str, ifname: str) -> set[str]:
    """The pod IPs currently masqueraded for the attachment."""
    table = nft.table(FAMILY, TABLE)
    note = comment(network, container_id, ifname)
    return {ip for _v, ip, c in elements(table or []) if c == note}
