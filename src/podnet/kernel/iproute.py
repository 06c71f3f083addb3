"""iproute2 batches and per-namespace sysctls: how cluster topology is built.

Bringing up a cluster's underlay, nodes and overlay is a few dozen ``ip``
commands per namespace; one ``ip -n NS -batch -`` process runs them all
(≈10 ms) and reads exactly like what a learner would type by hand, which is
why topology uses it rather than raw netlink (the CNI fast path does that).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from podnet.kernel import netns


class IpError(RuntimeError):
    """An ``ip`` batch failed; the message holds ip's own error text."""


def batch(namespace: str | None, commands: Sequence[str], force: bool = False, tool: str = "ip") -> None:
    """Run ``ip [-n NS] -batch -`` with one command per line (``link add ...``);
    ``tool="bridge"`` runs ``bridge`` the same way (fdb entries).

    ``force`` keeps going after a failing line (for best-effort tear-down)."""
    if not commands:
        return
    argv = [tool] + (["-n", namespace] if namespace else []) + (["-force"] if force else []) + ["-batch", "-"]
    proc = subprocess.run(argv, input="\n".join(commands) + "\n", capture_output=True, text=True)
    if proc.returncode != 0 and not force:
        where = f" in netns {namespace}" if namespace else ""
        raise IpError(f"{tool} -batch{where} failed: {proc.stderr.strip()}")


def sysctl(namespace: str, key: str, value: str) -> None:
    """Set a per-namespace sysctl (``net.ipv4.ip_forward``) inside ``namespace``."""
    path = "/proc/sys/" + key.replace(".", "/")
    with netns.entered(namespace), open(path, "w") as f:
        f.write(value)


def read_sysctl(namespace: str, key: str) -> str:
    path = "/proc/sys/" + key.replace(".", "/")
    with netns.entered(namespace), open(path) as f:
        return f.read().strip()


def pids_in(namespace: str) -> list[int]:
    """Processes whose network namespace is ``namespace`` (``ip netns pids``)."""
    proc = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]
