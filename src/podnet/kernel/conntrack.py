"""Conntrack entries: list and delete flows with the ``conntrack`` tool, inside a namespace.

The proxy deletes UDP flows that were DNATed to an endpoint that went away:
UDP has no connection close, so without this a client that keeps sending from
the same socket would stay pinned to the dead backend until the entry times
out. TCP needs nothing: the client sees a reset or a timeout and reconnects.
"""

from __future__ import annotations

import re
import subprocess

from podnet.kernel.nft_apply import inside


def _run(args: list[str], netns: str | None) -> subprocess.CompletedProcess[str]:
    with inside(netns):
        return subprocess.run(["conntrack", *args], capture_output=True, text=True)


def delete_flows(
    protocol: str,
    orig_dst: str,
    orig_port: int,
    dnat_to: str | None = None,
    netns: str | None = None,
) -> int:
    """Delete flows to ``orig_dst:orig_port`` (optionally only those DNATed to ``dnat_to``).

    Returns the number of deleted entries (0 when none matched).
    """
    args = ["-D", "-p", protocol, "--orig-dst", orig_dst, "--orig-port-dst", str(orig_port)]
    if dnat_to is not None:
        args += ["--dst-nat", dnat_to]
    proc = _run(args, netns)
    found = re.search(r"(\d+) flow entries have been deleted", proc.stderr)
    if found:
        return int(found.group(1))
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"conntrack {' '.join(args)}: {proc.stderr.strip()}")
    return 0


def list_flows(protocol: str | None = None, netns: str | None = None) -> list[str]:
    """``conntrack -L`` lines (optionally one protocol)."""
    args = ["-L"] + (["-p", protocol] if protocol else [])
    proc = _run(args, netns)
    return [line for line in proc.stdout.splitlines() if line.strip()]
