"""The synchronous SQL half of the SQLite store: schema, write transactions, reads.

Layout of the one database file (WAL journal, ``synchronous=FULL``):

* ``objects(resource, namespace, name, data)``: the current object as JSON;
  its ``metadata.resourceVersion`` is the version of the write that made it.
* ``events(rv, resource, namespace, type, data)``: one row per write, the watch
  history. rv is contiguous (each write adds exactly one), so keeping the last
  ``history`` events is ``DELETE ... WHERE rv <= head - history``.
* ``meta``: ``rv`` (the global resourceVersion counter, like an etcd revision
  it is 1 in an empty store so that a list never answers "0", which means "now")
  and ``compacted`` (the newest pruned rv: a watch from below it gets Gone).

Writes are applied in batches inside one ``BEGIN IMMEDIATE`` transaction and
one commit (group commit). Each write validates before it touches a table, so a
write that fails (AlreadyExists, Conflict, NotFound) leaves no trace and does
not disturb the others in its batch. Everything here is plain blocking sqlite3;
sqlite.py decides which thread runs it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Literal

from podnet.api.kinds import Obj
from podnet.store.base import (
    AlreadyExists,
    BadRequest,
    NotFound,
    StoreError,
    check_version,
    obj_name,
    obj_namespace,
    prepare_create,
    prepare_status_update,
    prepare_update,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    rv INTEGER PRIMARY KEY, resource TEXT NOT NULL, namespace TEXT NOT NULL,
    type TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_resource ON events (resource, rv);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('rv', 1), ('compacted', 0);
"""

WriteKind = Literal["create", "update", "status", "delete"]


@dataclass(frozen=True)
class Write:
    """One requested write. ``obj`` for create/update/status; ns/name/rv for delete."""

    kind: WriteKind
    resource: str
    obj: Obj | None = None
    namespace: str = ""
    name: str = ""
    resource_version: str | None = None


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with durable commits."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def init_schema(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def dumps(obj: Obj) -> str:
    try:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise BadRequest(f"object is not valid JSON: {e}") from None


# ---- writes (writer thread) ----


def _stored(conn: sqlite3.Connection, resource: str, ns: str, name: str) -> Obj:
    row = conn.execute(
        "SELECT data FROM objects WHERE resource=? AND namespace=? AND name=?",
        (resource, ns, name),
    ).fetchone()
    if row is None:
        raise NotFound(f'{resource} "{name}" not found')
    out: Obj = json.loads(row[0])
    return out


def _apply(conn: sqlite3.Connection, rv: int, w: Write) -> Obj:
    """Run one write as version ``rv``; raises StoreError before changing anything."""
    if w.kind == "delete":
        ns, name = w.namespace, w.name
        stored = _stored(conn, w.resource, ns, name)
        if w.resource_version:
            check_version({"metadata": {"resourceVersion": w.resource_version}}, stored)
        out = stored
        out.setdefault("metadata", {})["resourceVersion"] = str(rv)
        data = dumps(out)
        conn.execute(
            "DELETE FROM objects WHERE resource=? AND namespace=? AND name=?",
            (w.resource, ns, name),
        )
        etype = "DELETED"
    else:
        assert w.obj is not None
        ns, name = obj_namespace(w.obj), obj_name(w.obj)
        if w.kind == "create":
            exists = conn.execute(
                "SELECT 1 FROM objects WHERE resource=? AND namespace=? AND name=?",
                (w.resource, ns, name),
            ).fetchone()
            if exists:
                raise AlreadyExists(f'{w.resource} "{name}" already exists')
            out, etype = prepare_create(w.obj, rv), "ADDED"
        elif w.kind == "update":
            out, etype = prepare_update(w.obj, _stored(conn, w.resource, ns, name), rv), "MODIFIED"
        else:
            out = prepare_status_update(w.obj, _stored(conn, w.resource, ns, name), rv)
            etype = "MODIFIED"
        data = dumps(out)
        conn.execute(
            "INSERT OR REPLACE INTO objects (resource, namespace, name, data) VALUES (?,?,?,?)",
            (w.resource, ns, name, data),
        )
    conn.execute(
        "INSERT INTO events (rv, resource, namespace, type, data) VALUES (?,?,?,?,?)",
        (rv, w.resource, ns, etype, data),
    )
    return out


def apply_batch(
    conn: sqlite3.Connection, writes: list[Write], history: int
) -> list[Obj | StoreError]:
    """Apply ``writes`` in order in one transaction and commit once; per-write outcomes."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        rv = int(conn.execute("SELECT value FROM meta WHERE key='rv'").fetchone()[0])
        results: list[Obj | StoreError] = []
        for w in writes:
            try:
                results.append(_apply(conn, rv + 1, w))
                rv += 1
            except StoreError as e:
                results.append(e)
        conn.execute("UPDATE meta SET value=? WHERE key='rv'", (rv,))
        floor = rv - history
        if floor > 0:
            conn.execute("DELETE FROM events WHERE rv <= ?", (floor,))
            conn.execute("UPDATE meta SET value=max(value, ?) WHERE key='compacted'", (floor,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results


# ---- reads (event loop thread, own connection) ----


def head(conn: sqlite3.Connection) -> tuple[int, int]:
    """(current rv, compacted rv)."""
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('rv', 'compacted')"))
    return int(rows.get("rv", 0)), int(rows.get("compacted", 0))


def get(conn: sqlite3.Connection, resource: str, namespace: str, name: str) -> Obj:
    return _stored(conn, resource, namespace, name)


def list_objects(
    conn: sqlite3.Connection, resource: str, namespace: str | None
) -> tuple[list[Obj], int]:
    """All objects of ``resource`` (in one namespace if given) sorted, plus the rv they are at."""
    conn.execute("BEGIN")
    try:
        rv, _ = head(conn)
        if namespace is None:
            cur = conn.execute(
                "SELECT data FROM objects WHERE resource=? ORDER BY namespace, name", (resource,)
            )
        else:
            cur = conn.execute(
                "SELECT data FROM objects WHERE resource=? AND namespace=? ORDER BY name",
                (resource, namespace),
            )
        items = [json.loads(row[0]) for row in cur]
    finally:
        conn.execute("COMMIT")
    return items, rv


def events_after(
    conn: sqlite3.Connection, resource: str, namespace: str | None, after: int, limit: int
) -> tuple[list[tuple[int, str, str]], int, int]:
    """Events of ``resource`` with rv > ``after``: ((rv, type, JSON text) rows, rv read up to,
    compacted rv).

    The returned "read up to" is the rv a watcher may continue from: the head
    when fewer than ``limit`` rows came back, else the last row's rv.
    """
    conn.execute("BEGIN")
    try:
        rv, compacted = head(conn)
        sql = "SELECT rv, type, data FROM events WHERE resource=? AND rv>? AND rv<=?"
        args: tuple[object, ...] = (resource, after, rv)
        if namespace is not None:
            sql += " AND namespace=?"
            args += (namespace,)
        rows = conn.execute(sql + " ORDER BY rv LIMIT ?", (*args, limit)).fetchall()
    finally:
        conn.execute("COMMIT")
    upto = int(rows[-1][0]) if len(rows) >= limit else max(after, rv)
    return [(int(r), str(t), str(d)) for r, t, d in rows], upto, compacted
