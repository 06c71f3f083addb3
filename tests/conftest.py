"""Shared pytest fixtures.

Store fixtures: ``etcd_url`` (one throwaway etcd per test session, started from
Debian's /usr/bin/etcd; skipped with a reason when it is missing) and
``store_backend``, parametrised over memory, sqlite and etcd, which hands a test
a ``Backend`` that opens stores and runs an async test body on one.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from etcd_server import ETCD_BINARY, EtcdServer
from podnet.store.base import Store
from podnet.store.open import open_store


@pytest.fixture(scope="session")
def etcd_url() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of an etcd running for this test session."""
    if not os.access(ETCD_BINARY, os.X_OK):
        pytest.skip(f"{ETCD_BINARY} not installed (apt install etcd-server)")
    server = EtcdServer()
    try:
        yield server.start()
    finally:
        server.stop()


@dataclass
class Backend:
    """One store backend for a test: ``open()`` gives a store on this test's data.

    For sqlite and etcd every ``open()`` returns a new store over the same data
    (the same file, the same key prefix), like a restarted server; for memory
    each call returns a fresh, empty store. ``history`` is the retained watch
    history (memory and sqlite only; etcd keeps everything until compacted).
    """

    name: str
    url: str

    def open(self, history: int | None = None) -> Store:
        url = self.url
        if history is not None and self.name != "etcd":
            url += f"?history={history}"
        return open_store(url)

    def run(
        self, body: Callable[[Store], Awaitable[None]], history: int | None = None, timeout: float = 60
    ) -> None:
        """Run ``await body(store)`` in a fresh event loop, closing the store afterwards."""

        async def main() -> None:
            store = self.open(history)
            try:
                await asyncio.wait_for(body(store), timeout)
            finally:
                await store.close()

        asyncio.run(main())


@pytest.fixture(params=["memory", "sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
def store_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "memory":
        return Backend("memory", "memory://")
    if request.param == "sqlite":
        return Backend("sqlite", f"sqlite://{tmp_path / 'state.db'}")
    url = request.getfixturevalue("etcd_url").replace("http://", "etcd://")
    return Backend("etcd", f"{url}?prefix=/podnet-test-{uuid.uuid4().hex[:12]}")
