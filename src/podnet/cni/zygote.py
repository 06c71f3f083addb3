"""Run podnet's own CNI plugins forked from a pre-imported template instead of exec'd afresh.

A plugin call is one process, and for a Python plugin most of that process is
interpreter start-up and imports (≈20 ms of CPU here, twice per ADD because the
bridge plugin runs its IPAM plugin as a second process). A node agent makes
thousands of such calls, so it keeps a *zygote*: one single-threaded process
that imported the plugins once and then only forks. Each call is still one
process with exactly the plugin executable's inputs and outputs:

* the runtime side (:class:`Zygote`, used by :class:`podnet.cni.invoker.CniInvoker`
  only for executables that :class:`podnet.cni.paths.Launchers` recognises as
  podnet's own launchers) sends the environment, the stdin bytes, a socket for
  the answer and the calling thread's network namespace (``SCM_RIGHTS``);
* the zygote forks; the child enters that namespace, puts stdin/stdout/stderr
  on memory files, replaces ``os.environ``, runs the plugin's ``main()`` the
  way the launcher would, and sends back the exit status, stdout and stderr;
* inside such a child, the bridge plugin's IPAM delegation (spec section 4:
  the ``ipam.type`` executable found in CNI_PATH, same environment, same
  stdin) runs podnet's own host-local in the same process when the executable
  found is its launcher (:func:`call_in_process`: the launcher's ``main()``
  with that environment and those stdin bytes, its stdout parsed like a
  process's), and execs any other executable as usual.

Every other executable (the reference plugins, portmap, a launcher someone
replaced) is exec'd as usual. The zygote exits when its runtime side goes away
(EOF on the control socket); a child killed mid-call looks like a killed plugin
process (non-zero status, no output). Nothing here runs unless a runtime asks
for it: the plugin executables themselves never import this module.
"""

from __future__ import annotations

import array
import gc
import json
import os
import signal
import socket
import struct
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess

    from podnet.cni.paths import Launchers

_HEADER = struct.Struct("!I")
_REPLY = struct.Struct("!iII")
_PID = struct.Struct("!I")


# -- inside forked children ---------------------------------------------------------------------
def run_main(module: str, env: dict[str, str], stdin_fd: int, stdout_fd: int, stderr_fd: int) -> int:
    """Become the plugin process in a freshly forked child: fds 0-2, environment, ``main()``.

    Returns the exit status the launcher would have exited with.
    """
    for fd, target in ((stdin_fd, 0), (stdout_fd, 1), (stderr_fd, 2)):
        if fd != target:
            os.dup2(fd, target)
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
    os.environ.clear()
    os.environ.update(env)
    try:
        return _launch(module)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass


def _launch(module: str) -> int:
    """What the launcher does, with its exit status as the result: ``main()`` of ``module``
    (argv[0] the module), ``SystemExit`` mapped as the interpreter maps it, a crash printed."""
    sys.argv = [module]
    try:
        __import__(module)
        result = sys.modules[module].main()
        return result if isinstance(result, int) else 0
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except Exception:
        import traceback

        traceback.print_exc()
        return 1


def _memfd(data: bytes = b"") -> int:
    fd = os.memfd_create("podnet-cni", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def call_in_process(module: str, data: bytes, env: dict[str, str]) -> tuple[int, bytes]:
    """Run plugin ``module``'s ``main()`` in this process as its launcher would: ``env`` as the
    environment, ``data`` on stdin; (exit status, stdout). stderr is shared with the caller.

    Used inside a zygote child for the bridge's delegation to podnet's own host-local:
    the same code, inputs and output bytes as the executable, without a second process,
    which here costs ~9 ms of CPU (fork, copy-on-write, exit) against ~2 ms of work.
    """
    import io

    saved_env = dict(os.environ)
    saved = sys.stdin, sys.stdout, sys.argv
    stdin = io.TextIOWrapper(io.BytesIO(data))
    stdout = io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    sys.stdin, sys.stdout = stdin, stdout
    try:
        code = _launch(module)
    finally:
        sys.stdin, sys.stdout, sys.argv = saved
        os.environ.clear()
        os.environ.update(saved_env)
    return code, stdout.getvalue().encode()


def _recv_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _serve_one(conn: socket.socket, netns_fd: int) -> int:
    """One call, in a child of the zygote: returns the child's exit status."""
    from podnet.kernel import netns

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the plugin waits for its IPAM child
    target, own = os.fstat(netns_fd), os.stat("/proc/thread-self/ns/net")
    if (target.st_dev, target.st_ino) != (own.st_dev, own.st_ino):
        netns.switch_to(netns_fd)  # (skipped when already there: setns costs a child ~3 ms)
    os.close(netns_fd)
    conn.sendall(_PID.pack(os.getpid()))
    request = _recv_all(conn)
    (size,) = _HEADER.unpack_from(request)
    header = json.loads(request[_HEADER.size:_HEADER.size + size])
    fds = [_memfd(request[_HEADER.size + size:]), _memfd(), _memfd()]
    code = run_main(str(header["module"]), dict(header["env"]), *fds)
    out, err = _read_all(fds[1]), _read_all(fds[2])
    conn.sendall(_REPLY.pack(code, len(out), len(err)) + out + err)
    return code


def _reap(_signum: int, _frame: object) -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(control_fd: int, launcher_dir: str) -> None:
    """The zygote's main loop: import the plugins, then fork one child per request."""
    from podnet.cni import ipam, paths

    for module in paths.PLUGINS.values():
        __import__(module)
    for extra in ("podnet.cni.masq", "podnet.cni.bridge_check", "podnet.kernel.nft"):
        __import__(extra)
    ipam.IN_PROCESS = paths.Launchers(launcher_dir)
    # Children are short-lived: without a collector pass in them, the pages of everything
    # imported here stay shared with the zygote instead of being copied on first touch.
    gc.collect()
    gc.freeze()
    gc.disable()
    # Reap children as they exit (not SIG_IGN: reaping here adds their CPU time to ours, so
    # the agent's accounting of its zygote's children stays true).
    signal.signal(signal.SIGCHLD, _reap)
    control = socket.socket(fileno=control_fd)
    fd_size = array.array("i").itemsize
    while True:
        try:
            msg, ancdata, _flags, _addr = control.recvmsg(16, socket.CMSG_SPACE(2 * fd_size))
        except InterruptedError:
            continue
        if not msg:
            return  # the runtime side is gone
        fds = array.array("i")
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:len(payload) - len(payload) % fd_size])
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                control.close()
                code = _serve_one(socket.socket(fileno=fds[0]), fds[1])
            finally:
                os._exit(code)
        os.close(fds[0])
        os.close(fds[1])


# -- the runtime side ------------------------------------------------------------------------------
class Zygote:
    """A node agent's handle on its zygote process (thread-safe; started on first use)."""

    def __init__(self, launcher_dir: str) -> None:
        from podnet.cni.paths import Launchers

        self.launcher_dir = launcher_dir
        self.launchers: Launchers = Launchers(launcher_dir)
        self._lock = threading.Lock()
        self._control: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def module_of(self, exe: str) -> str | None:
        """The plugin module when ``exe`` is one of podnet's launchers, else None."""
        return self.launchers.module_of(exe)

    def start(self) -> None:
        """Start the zygote now (from the thread whose network namespace it should live in)."""
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> socket.socket:
        if self._control is not None and self._proc is not None and self._proc.poll() is None:
            return self._control
        import subprocess

        from podnet.cni.paths import package_root

        self._close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = (f"import sys; sys.path.insert(0, {package_root()!r}); "
                f"from podnet.cni.zygote import serve; serve({theirs.fileno()}, {self.launcher_dir!r})")
        try:
            self._proc = subprocess.Popen(
                [os.path.realpath(sys.executable), "-IS", "-c", code], pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._control = ours
        return ours

    def _close(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        with self._lock:
            self._close()

    def _submit(self, theirs: socket.socket) -> None:
        netns_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [theirs.fileno(), netns_fd]))]
            with self._lock:
                for attempt in (1, 2):
                    control = self._ensure_started()
                    try:
                        control.sendmsg([b"r"], fds)
                        return
                    except OSError:
                        self._close()
                        if attempt == 2:
                            raise
        finally:
            os.close(netns_fd)

    def run(self, module: str, env: dict[str, str], data: bytes, timeout: float
            ) -> tuple[int, bytes, bytes]:
        """One plugin call: (exit status, stdout, stderr), like running the launcher.

        Runs in the calling thread's network namespace. A child that dies without
        answering gives status -9 and no output; TimeoutError after ``timeout``
        (the child is killed).
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with ours:
            try:
                self._submit(theirs)
            finally:
                theirs.close()
            ours.settimeout(timeout)
            header = json.dumps({"module": module, "env": env}).encode()
            answer = bytearray()
            try:
                ours.sendall(_HEADER.pack(len(header)) + header + data)
                ours.shutdown(socket.SHUT_WR)
                while chunk := ours.recv(1 << 16):
                    answer += chunk
            except TimeoutError:
                if len(answer) >= _PID.size:
                    try:
                        os.kill(_PID.unpack_from(answer)[0], signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                raise TimeoutError(f"{module} did not answer within {timeout} s") from None
            except OSError:
                pass  # the child died while we were talking to it
            rest = bytes(answer[_PID.size:])
            if len(rest) < _REPLY.size:
                return -9, b"", b"the plugin process died without answering"
            code, out_len, err_len = _REPLY.unpack_from(rest)
            body = rest[_REPLY.size:]
            return code, body[:out_len], body[out_len:out_len + err_len]
