"""Printing truth tables: the shared JSON format and ``.``/``X`` matrices.

JSON (the same for ``probe`` and ``analyze``)::

    {"entries": [{"from": "ns/pod", "to": "ns/pod", "port": 80,
                  "protocol": "TCP", "allowed": true}, ...]}

Matrix (``-o table``): one block per port/protocol, rows are sources, columns
destinations, ``.`` allowed and ``X`` denied. ``parse_matrix`` reads the same
block back, which is how tests state expected tables compactly.
"""

from __future__ import annotations

import io
import json
from typing import TextIO

from podnet.policy.table import PortKey, TruthTable


def write_json(table: TruthTable, out: TextIO) -> None:
    """Stream the entries (a 1000-pod table has millions; never build one big string)."""
    out.write('{"entries": [')
    first = True
    for entry in table.entries():
        out.write(("" if first else ",\n ") + json.dumps(entry))
        first = False
    out.write("]}\n")


def to_json(table: TruthTable) -> str:
    buf = io.StringIO()
    write_json(table, buf)
    return buf.getvalue()


def matrix(table: TruthTable, key: PortKey) -> str:
    """One port/protocol as a matrix of ``.`` and ``X``."""
    pods = table.pods
    width = max((len(p) for p in pods), default=0)
    lines = [" " * width + " " + " ".join(pods)]
    rows = table.rows[key]
    for s, src in enumerate(pods):
        cells = [("." if rows[s] >> d & 1 else "X").ljust(len(dst)) for d, dst in enumerate(pods)]
        lines.append(src.ljust(width) + " " + " ".join(cells).rstrip())
    return "\n".join(lines)


def to_matrices(table: TruthTable) -> str:
    """Every port/protocol of the table, each headed ``PORT/PROTOCOL``."""
    blocks = [f"{port}/{proto}\n{matrix(table, (port, proto))}" for port, proto in table.keys]
    return "\n\n".join(blocks) + "\n"


def parse_matrix(text: str) -> dict[tuple[str, str], bool]:
    """Read a matrix block (header row of destinations, then ``src`` and marks).

    Returns ``{(from, to): allowed}``. Whitespace-separated; ``.`` or ``X``.
    """
    lines = [ln.split() for ln in text.strip().splitlines() if ln.strip()]
    header, out = lines[0], {}
    for row in lines[1:]:
        src, marks = row[0], row[1:]
        if len(marks) != len(header):
            raise ValueError(f"row {src}: {len(marks)} marks for {len(header)} columns")
        for dst, mark in zip(header, marks, strict=True):
            if mark not in (".", "X"):
                raise ValueError(f"row {src}: mark {mark!r} is neither '.' nor 'X'")
            out[(src, dst)] = mark == "."
    return out


def as_dict(table: TruthTable, key: PortKey) -> dict[tuple[str, str], bool]:
    """One port/protocol as ``{(from, to): allowed}`` (compare with parse_matrix)."""
    rows = table.rows[key]
    return {(src, dst): bool(rows[s] >> d & 1)
            for s, src in enumerate(table.pods) for d, dst in enumerate(table.pods)}
