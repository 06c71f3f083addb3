"""``open_store(url)``: pick and configure a Store backend from one URL string.

* ``memory://`` (optional ``?history=N``)
* ``sqlite:///abs/path/state.db`` or a plain path (optional ``?history=N``)
* ``etcd://host:port`` (optional ``?prefix=/some/prefix``; default port 2379)
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from podnet.store.base import Store, StoreError


def _query(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query).items()}


def _history(params: dict[str, str], default: int) -> int:
    try:
        return int(params.get("history", default))
    except ValueError:
        raise StoreError(f"invalid history {params['history']!r}") from None


def open_store(url: str) -> Store:
    """The backend ``url`` names; raises StoreError for an unknown scheme."""
    if "://" not in url:
        from podnet.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    parts = urlsplit(url)
    params = _query(parts.query)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        from podnet.store.memory import MemoryStore

        return MemoryStore(history=_history(params, 100_000))
    if scheme == "sqlite":
        from podnet.store.sqlite import SQLiteStore

        path = parts.netloc + parts.path  # sqlite:///abs → "/abs"; sqlite://rel/x → "rel/x"
        if not path:
            raise StoreError(f"sqlite URL without a path: {url!r}")
        return SQLiteStore(path, history=_history(params, 10_000))
    if scheme == "etcd":
        from podnet.store.etcd import EtcdStore

        if not parts.hostname:
            raise StoreError(f"etcd URL without a host: {url!r}")
        return EtcdStore(parts.hostname, parts.port or 2379, prefix=params.get("prefix", ""))
    raise StoreError(f"unknown store URL {url!r} (use memory://, sqlite:///path or etcd://host:port)")
