"""The live truth table: really connect from every pod to every pod, in parallel.

For each (source pod, destination pod, port, protocol) a socket is created
*inside the source pod's network namespace* (``podnet.kernel.netns.entered``:
setns on this thread for the moment of ``socket()``; the socket stays in that
namespace), then driven by asyncio alongside all the others:

* TCP: allowed when the handshake completes within the timeout;
* UDP: the datagram ``hostname`` is sent; allowed when a reply arrives within
  the timeout (no reply, or ICMP unreachable: denied);
* SCTP cells are reported denied without a packet (this kernel has no SCTP).

The destination is addressed through its Service when it has one - a
ClusterIP Service of its namespace whose selector picks this pod and no other
live pod and which has a port leading to the probed containerPort (number, or
named targetPort resolved against the pod) - else by its pod IP; ``Target.via``
says which. A reply proves reachability, a silence may be load: ``attempts``
re-probes only the denied cells. The result is a ``TruthTable`` like the
offline one, so ``tablefmt`` prints both the same way and they compare cell by
cell.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from podnet.api.kinds import Obj, name_of, namespace_of
from podnet.api.selectors import from_match_labels
from podnet.policy.model import PodInfo, is_live, pod_info
from podnet.policy.table import PortKey, TruthTable


@dataclass(frozen=True)
class Target:
    """Where a probe of ``pod`` on ``port/protocol`` is sent, and why there."""

    ip: str
    port: int
    via: str  # "service ns/name" or "pod IP"


@dataclass
class ProbeResult:
    table: TruthTable
    targets: dict[tuple[str, int, str], Target]  # (dst pod key, port, protocol) -> target
    seconds: float = 0.0


def _target_port(svc_port: Obj, pod: PodInfo) -> int | None:
    target = svc_port.get("targetPort")
    if target is None or target == "":
        return int(svc_port["port"])
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    return pod.named_port(str(target), str(svc_port.get("protocol") or "TCP").upper())


def service_targets(pods: Sequence[Obj], services: Sequence[Obj], keys: Sequence[PortKey]
                    ) -> dict[tuple[str, int, str], Target]:
    """For every live pod with an IP and every key: its Service's ClusterIP, else its pod IP."""
    infos = [pod_info(p) for p in pods if is_live(p) and (p.get("status") or {}).get("podIP")]
    by_ns: dict[str, list[PodInfo]] = {}
    for info in infos:
        if not info.host_network:
            by_ns.setdefault(info.namespace, []).append(info)
    own: dict[str, list[tuple[Obj, PodInfo]]] = {}  # pod key -> Services selecting only it
    for svc in services:
        spec = svc.get("spec") or {}
        ip, selector = spec.get("clusterIP"), spec.get("selector")
        if not selector or not ip or ip == "None" or spec.get("type") == "ExternalName":
            continue
        sel = from_match_labels(selector)
        chosen = [p for p in by_ns.get(namespace_of(svc) or "default", []) if sel.matches(p.labels)]
        if len(chosen) == 1:
            own.setdefault(chosen[0].key, []).append((svc, chosen[0]))
    out: dict[tuple[str, int, str], Target] = {}
    for info in infos:
        for port, proto in keys:
            target = Target(info.ip, port, "pod IP")
            for svc, pod in sorted(own.get(info.key, []), key=lambda s: name_of(s[0])):
                for sp in (svc.get("spec") or {}).get("ports") or []:
                    if (str(sp.get("protocol") or "TCP").upper() == proto
                            and _target_port(sp, pod) == port):
                        target = Target(str(svc["spec"]["clusterIP"]), int(sp["port"]),
                                        f"service {namespace_of(svc)}/{name_of(svc)}")
                        break
                if target.via != "pod IP":
                    break
            out[(info.key, port, proto)] = target
    return out


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need and (hard == resource.RLIM_INFINITY or soft < hard):
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def _open(netns: str, proto: str) -> socket.socket:
    from podnet.kernel import netns as kernel_netns

    kind = socket.SOCK_STREAM if proto == "TCP" else socket.SOCK_DGRAM
    with kernel_netns.entered(netns):
        sock = socket.socket(socket.AF_INET, kind)
    sock.setblocking(False)
    return sock


async def probe_one(netns: str, target: Target, proto: str, timeout: float) -> bool:
    """One connection attempt from inside ``netns``; True when it got through."""
    if proto not in ("TCP", "UDP"):
        return False
    loop = asyncio.get_running_loop()
    try:
        sock = _open(netns, proto)
    except OSError:
        return False
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (target.ip, target.port))
            if proto == "UDP":
                await loop.sock_sendall(sock, b"hostname")
                return bool(await loop.sock_recv(sock, 2048))
            return True
    except (OSError, TimeoutError):
        return False
    finally:
        sock.close()


async def probe(
    pods: Sequence[Obj],
    services: Sequence[Obj],
    keys: Sequence[PortKey],
    netns_of: Callable[[PodInfo], str],
    timeout: float = 1.0,
    attempts: int = 1,
    parallel: int = 512,
) -> ProbeResult:
    """Probe every live pod (with an IP, not hostNetwork) to every such pod on ``keys``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    infos = sorted((pod_info(p) for p in pods if is_live(p) and (p.get("status") or {}).get("podIP")
                    and not (p.get("spec") or {}).get("hostNetwork")),
                   key=lambda p: (p.namespace, p.name))
    targets = service_targets(pods, services, keys)
    _raise_fd_limit(parallel * 2 + 256)
    gate = asyncio.Semaphore(parallel)
    n = len(infos)
    rows: dict[PortKey, list[int]] = {key: [0] * n for key in keys}

    async def cell(s: int, d: int, key: PortKey) -> None:
        port, proto = key
        target = targets[(infos[d].key, port, proto)]
        for _ in range(max(attempts, 1)):
            async with gate:
                if await probe_one(netns_of(infos[s]), target, proto, timeout):
                    rows[key][s] |= 1 << d
                    return

    await asyncio.gather(*(cell(s, d, key) for key in keys for s in range(n) for d in range(n)))
    table = TruthTable([p.key for p in infos], list(keys), rows)
    return ProbeResult(table, targets, loop.time() - start)


def describe_targets(result: ProbeResult) -> str:
    """One line per destination pod and key: the address probed and why."""
    lines = []
    for (pod, port, proto), t in sorted(result.targets.items()):
        if pod in result.table.pods and (port, proto) in result.table.keys:
            lines.append(f"{pod} {port}/{proto}: {t.ip}:{t.port} ({t.via})")
    return "\n".join(lines)


def differences(live: TruthTable, offline: TruthTable) -> list[tuple[str, str, int, str, bool, bool]]:
    """Cells (from, to, port, protocol, live, offline) where the two tables disagree, over
    the pods and keys both hold."""
    out = []
    o_index = {p: i for i, p in enumerate(offline.pods)}
    common = [(s, p) for s, p in enumerate(live.pods) if p in o_index]
    for key in live.keys:
        if key not in offline.rows:
            continue
        lrows, orows = live.rows[key], offline.rows[key]
        for s, src in common:
            for d, dst in common:
                a = bool(lrows[s] >> d & 1)
                b = bool(orows[o_index[src]] >> o_index[dst] & 1)
                if a != b:
                    out.append((src, dst, key[0], key[1], a, b))
    return out
