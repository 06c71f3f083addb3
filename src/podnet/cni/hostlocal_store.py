"""host-local's on-disk lease store: one file per IP, guarded by an flock.

Layout (compatible with the reference host-local): ``DATADIR/NETWORK/`` holds
one file per leased IP, named by the address and containing
``CONTAINERID\\r\\nIFNAME``; ``last_reserved_ip.N`` remembers the last address
handed out from range set N (allocation continues round-robin after it); the
empty file ``lock`` is held with ``flock(LOCK_EX)`` for every read-modify-write,
so concurrent plugin processes never hand out one address twice. When the
lock cannot be had within ``lock_timeout`` seconds the call fails with code 11
(try again later) instead of hanging the runtime. Lease files
are created with ``O_EXCL`` as a second line of defence.
"""

from __future__ import annotations

import fcntl
import os
import time

from podnet.cni import errors
from podnet.cni.errors import CniError

TYPE_CHECKING = False  # start-up speed: typing/collections only for the type checker
if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
_LAST = "last_reserved_ip."
_LOCK = "lock"


class LeaseStore:
    def __init__(self, data_dir: str, network: str, lock_timeout: float = 10.0) -> None:
        self.lock_timeout = lock_timeout
        if not network or "/" in network or network in (".", ".."):
            raise CniError(errors.INVALID_CONFIG, "invalid network name", repr(network))
        self.dir = os.path.join(data_dir, network)

    def locked(self, create: bool = True) -> _Locked:
        """``with store.locked() as present:`` holds the store's lock; ``present`` is
        False (and nothing is locked) when the store does not exist and ``create``
        is False (nothing to release then)."""
        return _Locked(self, create)

    def _lock(self, create: bool) -> int:
        """The fd holding the flock, or -1 when there is no store and ``create`` is False."""
        try:
            if create:
                os.makedirs(self.dir, mode=0o755, exist_ok=True)
            elif not os.path.isdir(self.dir):
                return -1
            fd = os.open(os.path.join(self.dir, _LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                         0o644)
        except OSError as err:
            raise CniError(errors.IO_FAILURE, "cannot open the lease store", str(err)) from None
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise CniError(errors.TRY_AGAIN_LATER, "lease store is busy",
                                       f"{self.dir}/lock held > {self.lock_timeout}s") from None
                    time.sleep(0.002)
        except BaseException:
            os.close(fd)
            raise

    def reserve(self, ip: str, container_id: str, ifname: str) -> bool:
        """Create the lease file for ``ip``; False when it is already leased."""
        try:
            fd = os.open(os.path.join(self.dir, ip),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(f"{container_id}\r\n{ifname}")
        return True

    def is_leased(self, ip: str) -> bool:
        return os.path.exists(os.path.join(self.dir, ip))

    def last_reserved(self, range_set: int) -> str | None:
        try:
            with open(os.path.join(self.dir, f"{_LAST}{range_set}")) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def set_last_reserved(self, range_set: int, ip: str) -> None:
        path = os.path.join(self.dir, f"{_LAST}{range_set}")
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.write(ip)
        os.replace(tmp, path)

    def leases(self) -> Iterator[tuple[str, str, str]]:
        """Every lease as (ip, container id, ifname); ifname is "" for old-style files."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in names:
            if name == _LOCK or name.startswith(_LAST) or name.endswith(".tmp"):
                continue
            try:
                with open(os.path.join(self.dir, name), newline="") as f:
                    content = f.read()
            except (FileNotFoundError, IsADirectoryError):
                continue
            cid, _, ifname = content.partition("\r\n")
            yield name, cid.strip(), ifname.strip()

    def release(self, ip: str) -> None:
        try:
            os.unlink(os.path.join(self.dir, ip))
        except FileNotFoundError:
            pass

    def release_by_id(self, container_id: str, ifname: str) -> list[str]:
        """Remove every lease of the attachment; the released IPs (maybe none)."""
        gone = []
        for ip, cid, name in list(self.leases()):
            if cid == container_id and name in (ifname, ""):
                self.release(ip)
                gone.append(ip)
        return gone


class _Locked:
    """The context manager of :meth:`LeaseStore.locked` (a class rather than
    ``contextlib``, whose import would cost every plugin process ~5 ms)."""

    def __init__(self, store: LeaseStore, create: bool) -> None:
        self.store, self.create, self.fd = store, create, -1

    def __enter__(self) -> bool:
        self.fd = self.store._lock(self.create)
        return self.fd >= 0

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing releases the flock
            self.fd = -1
