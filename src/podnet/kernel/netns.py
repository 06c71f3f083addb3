"""Network namespaces: enter one by path in the current thread; create/delete named ones.

Entering uses ``setns(2)`` on the calling *thread* only (``os.setns`` on 3.12+,
libc through ctypes on 3.11), and :func:`entered` always switches back to the
namespace the thread was in, even when the body raises. Sockets opened inside
the block (e.g. :class:`~podnet.kernel.rtnl.Rtnl`) stay bound to the entered
namespace after the block ends, which is how one thread can hold one netlink
socket per namespace without any helper process.

Named namespaces (``/run/netns/NAME``) are created and deleted with ``ip netns
add/del``: it handles the shared bind mount of /run/netns and the bind mount of
the new namespace file exactly as every other tool expects, for about 5 ms;
there is nothing to gain from re-doing those mount subtleties here.
"""

from __future__ import annotations

import os

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
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


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


def create(name: str, loopback_up: bool = True) -> str:
    """``ip netns add NAME`` (+ ``lo`` up); returns the path."""
    import subprocess  # not at module level: the CNI plugins import this module

    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    if loopback_up:
        from podnet.kernel import links
        from podnet.kernel.rtnl import Rtnl

        with entered(name), Rtnl() as nl:
            lo = links.get(nl, "lo")
            if lo is not None:
                links.set_link(nl, lo.ifindex, up=True)
    return path_of(name)


def delete(name: str) -> bool:
    """``ip netns del NAME``; False when it did not exist."""
    if not exists(name):
        return False
    import subprocess

    subprocess.run(["ip", "netns", "del", name], check=True, capture_output=True)
    return True
