"""nftables through the ``nft`` tool: apply a ruleset transaction, read tables back.

One ``nft -f -`` process (≈3 ms) applies a whole text ruleset atomically: it
either all lands or nothing does. Reading uses ``nft -j`` and returns the
parsed JSON. The process runs in the calling thread's network namespace (a
child forked from a thread that entered a namespace starts inside it).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any


class NftError(RuntimeError):
    """``nft`` refused a ruleset; ``stderr`` holds its message."""

    def __init__(self, stderr: str) -> None:
        super().__init__(stderr.strip())
        self.stderr = stderr


def apply(ruleset: str) -> None:
    """Run ``nft -f -`` with ``ruleset``; raise NftError when the transaction fails."""
    proc = subprocess.run(["nft", "-f", "-"], input=ruleset, capture_output=True, text=True)
    if proc.returncode != 0:
        raise NftError(proc.stderr)


def list_json(*what: str) -> list[dict[str, Any]]:
    """``nft -j list WHAT...`` as the list of objects under "nftables".

    A missing table/chain/set raises NftError (check with :func:`has_table`).
    """
    proc = subprocess.run(["nft", "-j", "list", *what], capture_output=True, text=True)
    if proc.returncode != 0:
        raise NftError(proc.stderr)
    data = json.loads(proc.stdout or "{}")
    items: list[dict[str, Any]] = data.get("nftables", [])
    return items


def tables() -> list[tuple[str, str]]:
    """Every table as (family, name)."""
    out = []
    for item in list_json("tables"):
        table = item.get("table")
        if table:
            out.append((str(table["family"]), str(table["name"])))
    return out


def has_table(family: str, name: str) -> bool:
    return (family, name) in tables()


def table(family: str, name: str) -> list[dict[str, Any]] | None:
    """The JSON objects of one table, or None when it does not exist."""
    try:
        return list_json("table", family, name)
    except NftError as err:
        if "No such file" in err.stderr:
            return None
        raise


def delete_table(family: str, name: str) -> bool:
    """Delete a table; False when it did not exist."""
    try:
        apply(f"delete table {family} {name}\n")
    except NftError as err:
        if "No such file" in err.stderr:
            return False
        raise
    return True
