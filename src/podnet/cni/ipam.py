"""Delegation to an IPAM plugin, exactly as spec section 4 describes.

The IPAM executable named by ``ipam.type`` is looked up in the directories of
``CNI_PATH`` (first match wins), run with the *same* environment and the
*same* configuration bytes the calling plugin received (only ``CNI_COMMAND``
changes, e.g. DEL after a failed ADD), its stderr goes straight to ours, and
its stdout is the result or the error. A delegated error keeps its code.
"""

from __future__ import annotations

import os

from podnet.cni import errors
from podnet.cni.errors import CniError
from podnet.cni.result import Result, normalize
from podnet.cni.skel import CmdArgs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from podnet.cni.paths import Launchers

# Set only inside a zygote (podnet.cni.zygote): podnet's own host-local launcher found in
# CNI_PATH is then run in this process (its main(), same env and stdin) instead of exec'd.
IN_PROCESS: Launchers | None = None


def find_in_path(plugin_type: str, path: list[str]) -> str:
    """The executable ``plugin_type`` in the first ``path`` directory holding it."""
    if not plugin_type or "/" in plugin_type or plugin_type in (".", ".."):
        raise CniError(errors.INVALID_CONFIG, "invalid plugin type", repr(plugin_type))
    if not path:
        raise CniError(errors.INVALID_ENVIRONMENT, "CNI_PATH is needed to find the IPAM plugin",
                       "CNI_PATH")
    for directory in path:
        candidate = os.path.join(directory, plugin_type)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CniError(errors.INVALID_CONFIG, f"failed to find plugin {plugin_type!r}",
                   f"not found in CNI_PATH {os.pathsep.join(path)}")


class Running:
    """A started plugin process: :meth:`finish` reads its stdout to EOF, then reaps it."""

    __slots__ = ("_read", "pid")

    def __init__(self, pid: int, read: Callable[[], bytes]) -> None:
        self.pid = pid
        self._read = read

    def finish(self) -> tuple[int, bytes]:
        out = self._read()
        _pid, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status), out


class Finished:
    """A call that already ran (in-process, see :data:`IN_PROCESS`)."""

    __slots__ = ("answer",)

    def __init__(self, answer: tuple[int, bytes]) -> None:
        self.answer = answer

    def finish(self) -> tuple[int, bytes]:
        return self.answer


def spawn_executable(exe: str, data: bytes, env: dict[str, str]) -> Running:
    """Start ``exe`` with ``data`` on stdin (stderr shared); :meth:`Running.finish` waits.

    ``posix_spawn`` and two raw pipes instead of :mod:`subprocess` (and plain
    ``os.read``/``os.write`` instead of file objects): this runs in every plugin
    call, and subprocess's import alone costs more than the spawn.
    """
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        pid = os.posix_spawn(exe, [exe], env, file_actions=[
            (os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1)])
    except BaseException:
        for fd in (in_w, out_r):
            os.close(fd)
        raise
    finally:
        os.close(in_r)
        os.close(out_w)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(in_w, view):]
    except BrokenPipeError:
        pass
    finally:
        os.close(in_w)

    def read() -> bytes:
        chunks = []
        try:
            while chunk := os.read(out_r, 65536):
                chunks.append(chunk)
        finally:
            os.close(out_r)
        return b"".join(chunks)

    return Running(pid, read)


def run_executable(exe: str, data: bytes, env: dict[str, str]) -> tuple[int, bytes]:
    """Run ``exe`` with ``data`` on stdin; (exit status, stdout). stderr is shared."""
    return spawn_executable(exe, data, env).finish()


def ipam_type(args: CmdArgs) -> str | None:
    ipam = args.config.get("ipam")
    if ipam is None:
        return None
    if not isinstance(ipam, dict) or not isinstance(ipam.get("type"), str):
        raise CniError(errors.INVALID_CONFIG, "ipam must be an object with a string type")
    return str(ipam["type"])


class Delegation:
    """An IPAM call in flight (see :func:`start`); :meth:`wait` gives its result."""

    __slots__ = ("command", "plugin_type", "running")

    def __init__(self, plugin_type: str, command: str, running: Running | Finished) -> None:
        self.plugin_type, self.command, self.running = plugin_type, command, running

    def wait(self) -> Result | None:
        """The ADD result (None for other verbs), or the IPAM plugin's error."""
        reply = errors.plugin_reply(self.plugin_type, *self.running.finish())
        if self.command != "ADD":
            return None
        if not isinstance(reply, dict):
            raise CniError(errors.DECODING_FAILURE, f"{self.plugin_type} returned no result")
        return normalize(reply)


def start(args: CmdArgs, command: str | None = None) -> Delegation | None:
    """Start the IPAM plugin for ``command`` (default: ours) and return at once (None: no
    ipam section), so the caller can do its own work while IPAM runs."""
    plugin_type = ipam_type(args)
    if plugin_type is None:
        return None
    exe = find_in_path(plugin_type, args.path)
    env = args.env()
    command = command or args.command
    env["CNI_COMMAND"] = command
    module = IN_PROCESS.module_of(exe) if IN_PROCESS is not None else None
    running: Running | Finished
    try:
        if module is not None:
            from podnet.cni.zygote import call_in_process

            running = Finished(call_in_process(module, args.stdin, env))
        else:
            running = spawn_executable(exe, args.stdin, env)
    except OSError as err:
        raise CniError(errors.IO_FAILURE, f"failed to run {plugin_type}", str(err)) from None
    return Delegation(plugin_type, command, running)


def delegate(args: CmdArgs, command: str | None = None) -> Result | None:
    """Run the IPAM plugin for ``command`` (default: ours); the ADD result or None."""
    pending = start(args, command)
    return pending.wait() if pending is not None else None
