"""Network namespaces: enter one by path in the current thread; create/delete named ones.

Entering uses ``setns(2)`` on the calling *thread* only (``os.setns`` on 3.12+,
libc through ctypes on 3.11), and :func:`entered` always switches back to the
namespace the thread was in, even when the body raises. Sockets opened inside
the block (e.g. :class:`~podnet.kernel.rtnl.Rtnl`) stay bound to the entered
namespace after the block ends, which is how one thread can hold one netlink
socket per namespace without any helper process.

Named namespaces (``/run/netns/NAME``) are made the way ``ip netns add``
makes them: an empty file under /run/netns (itself a shared mount point, so
every mount namespace sees the new one), a new namespace for the calling thread
(``unshare(CLONE_NEWNET)``), and a bind mount of that thread's namespace file
onto the empty file; the thread then returns to where it was. Deleting
unmounts (lazily) and removes the file. Both run in-process — a node agent
makes and deletes one namespace per pod, and an ``ip`` process costs more CPU
than the work itself. The very first namespace, while /run/netns is not yet
a shared mount point, is left to ``ip netns add``, which sets that up exactly
as every other tool expects.
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"


def path_of(name: str) -> str:
    """The bind-mount path of a named namespace."""
    return name if name.startswith("/") else f"{NETNS_RUN_DIR}/{name}"


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)
    if setns is not None:  # Python >= 3.12
        setns(fd, CLONE_NEWNET)
        return
    libc: Any = _libc()
    _check(libc.setns(fd, CLONE_NEWNET))


def switch_to(fd: int) -> None:
    """Move the calling thread into the namespace behind ``fd`` for good (no way back)."""
    _setns(fd)


def current_fd() -> int:
    """A new fd for the calling thread's network namespace (caller closes it)."""
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def open_fd(path: str) -> int:
    """Open a namespace file (path or name); OSError if it does not exist."""
    return os.open(path_of(path), os.O_RDONLY | os.O_CLOEXEC)


class _Entered:
    """The context manager behind :func:`entered` (a class, not ``contextlib``:
    the CNI plugins import this module and contextlib costs them ~5 ms)."""

    def __init__(self, target: str | int) -> None:
        self.target = target
        self.own = -1

    def __enter__(self) -> None:
        self.own = current_fd()
        try:
            fd = self.target if isinstance(self.target, int) else open_fd(self.target)
        except BaseException:
            os.close(self.own)
            raise
        try:
            _setns(fd)
        except BaseException:
            os.close(self.own)
            raise
        finally:
            if not isinstance(self.target, int):
                os.close(fd)

    def __exit__(self, *exc: object) -> None:
        try:
            _setns(self.own)
        finally:
            os.close(self.own)


def entered(target: str | int) -> _Entered:
    """Run the block inside the namespace at ``target`` (path, name or open fd)."""
    return _Entered(target)


def same_as_current(path: str) -> bool:
    """True when ``path`` is the namespace this thread is already in."""
    a, b = os.stat(path_of(path)), os.stat("/proc/thread-self/ns/net")
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def exists(name: str) -> bool:
    return os.path.exists(path_of(name))


def names() -> list[str]:
    """Named namespaces, like ``ip netns list``."""
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


_MS_BIND = 4096
_MNT_DETACH = 2
_run_dir_shared = False


_LIBC: list[object] = []


def _libc() -> object:
    """The C library through ctypes, loaded once (``ctypes`` only when first needed)."""
    if not _LIBC:
        import ctypes

        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _check(ret: int) -> None:
    """OSError from errno when a libc call returned non-zero."""
    if ret != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _run_dir_is_shared_mount() -> bool:
    """Whether /run/netns is a mount point with shared propagation (``ip`` made it so)."""
    global _run_dir_shared
    if not _run_dir_shared:
        try:
            with open("/proc/self/mountinfo") as f:
                for line in f:
                    fields = line.split(" - ")[0].split()
                    if len(fields) > 4 and fields[4] == NETNS_RUN_DIR and any(
                            opt.startswith("shared:") for opt in fields[6:]):
                        _run_dir_shared = True
                        break
        except OSError:
            return False
    return _run_dir_shared


def _create_in_process(name: str) -> None:
    libc: Any = _libc()
    path = path_of(name)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    own = current_fd()
    try:
        try:
            _check(libc.unshare(CLONE_NEWNET))
            try:
                _check(libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", _MS_BIND, None))
            finally:
                _setns(own)
        except BaseException:
            os.unlink(path)
            raise
    finally:
        os.close(own)


def create(name: str, loopback_up: bool = True, ipv6_on_new_links: bool = True) -> str:
    """Create the named namespace (like ``ip netns add NAME``) and bring ``lo`` up; returns the path.

    ``ipv6_on_new_links=False``: interfaces made in it later (a pod's eth0) start with IPv6
    disabled (``net.ipv6.conf.default.disable_ipv6``); ``lo`` keeps ``::1``.
    FileExistsError when it exists already.
    """
    if _run_dir_is_shared_mount():
        _create_in_process(name)
    else:
        import subprocess  # not at module level: the CNI plugins import this module

        if exists(name):
            raise FileExistsError(f"network namespace {name} exists")
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    if loopback_up or not ipv6_on_new_links:
        from podnet.kernel import links
        from podnet.kernel.rtnl import Rtnl

        with entered(name), Rtnl() as nl:
            if not ipv6_on_new_links:
                try:  # /proc/sys/net is the opening thread's namespace's
                    with open("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w") as f:
                        f.write("1")
                except FileNotFoundError:  # a kernel without IPv6
                    pass
            lo = links.get(nl, "lo") if loopback_up else None
            if lo is not None:
                links.set_link(nl, lo.ifindex, up=True)
    return path_of(name)


def delete(name: str) -> bool:
    """Remove the named namespace (like ``ip netns del NAME``); False when it did not exist.

    The namespace itself lives on while a process or an open fd still holds it.
    """
    path = path_of(name)
    if not os.path.exists(path):
        return False
    libc: Any = _libc()
    try:
        _check(libc.umount2(path.encode(), _MNT_DETACH))
    except OSError as err:
        if err.errno != errno.EINVAL:  # EINVAL: not mounted (a half-made one): just remove the file
            raise OSError(err.errno, f"umount {path}: {err.strerror}") from None
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
