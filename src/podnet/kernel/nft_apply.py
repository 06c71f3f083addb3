"""Run nftables transactions inside a given network namespace.

A thin layer over :mod:`podnet.kernel.nft`: the calling thread enters the
namespace (``setns`` on that thread only) and the ``nft`` child it forks
starts there, so no ``ip netns exec`` process is needed. ``netns=None`` means
the thread's current namespace (callers that already run inside the node).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from podnet.kernel import netns as _netns
from podnet.kernel import nft
from podnet.kernel.nft import NftError

__all__ = ["NftError", "apply", "delete_table", "has_table", "inside", "list_json"]


@contextlib.contextmanager
def inside(netns: str | None) -> Iterator[None]:
    """Enter ``netns`` (a name or path) for the block; no-op for None."""
    if netns is None:
        yield
        return
    with _netns.entered(netns):
        yield


def apply(script: str, netns: str | None = None) -> None:
    """``nft -f -`` with ``script`` in ``netns``; raises NftError when refused."""
    with inside(netns):
        nft.apply(script)


def has_table(family: str, table: str, netns: str | None = None) -> bool:
    """Whether the table exists (``nft list tables``: cheap, no elements read)."""
    with inside(netns):
        return nft.has_table(family, table)


def delete_table(family: str, table: str, netns: str | None = None) -> bool:
    with inside(netns):
        return nft.delete_table(family, table)


def list_json(*what: str, netns: str | None = None) -> list[dict[str, object]]:
    with inside(netns):
        return nft.list_json(*what)
