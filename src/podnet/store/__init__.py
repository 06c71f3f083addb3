"""Persistence: the ``Store`` protocol and its backends (memory, SQLite, etcd v3).

A store keeps Kubernetes objects (plain dicts) under
``/registry/<plural>/<namespace>/<name>`` with one global, monotonically
increasing resourceVersion, and streams watch events that can be resumed from
any resourceVersion still in its history (older ones raise ``Gone``: 410).
"""

from podnet.store.base import (
    AlreadyExists,
    Conflict,
    Gone,
    NotFound,
    Store,
    StoreError,
    WatchEvent,
)

__all__ = ["AlreadyExists", "Conflict", "Gone", "NotFound", "Store", "StoreError", "WatchEvent"]
