"""The skeleton every podnet CNI plugin runs in: environment, stdin, version, dispatch.

``run(plugin)`` does what the spec asks of any plugin executable:
- validates ``CNI_COMMAND`` and the variables that command requires (code 4,
  naming the variables), reads the configuration on stdin (code 5 on I/O
  failure, 6 when it is not a JSON object), checks ``cniVersion`` (code 1 with
  the supported list) and that the verb exists in that version (CHECK needs
  0.4.0, GC and STATUS need 1.1.0);
- answers VERSION itself;
- calls the plugin's verb and prints the ADD result rendered for the
  configuration's version; other verbs print nothing on success;
- turns any failure into the spec's error JSON on stdout and exit status 1.

While the plugin runs, ``sys.stdout`` points at stderr, so a stray print can
never corrupt the result: stdout carries the result or the error, nothing else.

Everything on this path is imported by every plugin process, so it sticks to
built-in and C modules (no ``typing``, ``re``, ``json``; see docs/cni.md,
Performance): ``typing`` only for the type checker, JSON through
:mod:`podnet.cni.jsonio`, plain classes instead of NamedTuples.
"""

from __future__ import annotations

import os
import sys

from podnet.cni import errors, jsonio
from podnet.cni.errors import CniError
from podnet.cni.result import LATEST, SUPPORTED_VERSIONS, Result, at_least, require_supported

TYPE_CHECKING = False  # typing costs ~5 ms to import; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any, TextIO

COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC")
_REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": ("CNI_PATH",),
    "STATUS": (),
}
_MIN_VERSION = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}
_ID_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ID_REST = _ID_FIRST | frozenset("_.-")


def valid_container_id(cid: str) -> bool:
    """The spec's container id: ``^[A-Za-z0-9][A-Za-z0-9_.\\-]*$`` (checked without ``re``)."""
    return bool(cid) and cid[0] in _ID_FIRST and all(c in _ID_REST for c in cid)


class CmdArgs:
    """One invocation: the CNI_* environment plus the decoded configuration."""

    __slots__ = (
        "args",
        "command",
        "config",
        "container_id",
        "environ",
        "ifname",
        "netns",
        "path",
        "stdin",
    )

    def __init__(self, command: str, container_id: str, netns: str, ifname: str, args: str,
                 path: list[str], stdin: bytes, config: dict[str, Any] | None = None,
                 environ: dict[str, str] | None = None) -> None:
        self.command = command
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.args = args
        self.path = path
        self.stdin = stdin
        self.config: dict[str, Any] = {} if config is None else config
        self.environ: dict[str, str] = {} if environ is None else environ

    @property
    def version(self) -> str:
        return str(self.config.get("cniVersion", ""))

    def env(self) -> dict[str, str]:
        """The environment to hand to a delegated plugin (the same one we got)."""
        return dict(self.environ or os.environ)

    def cni_args(self) -> dict[str, str]:
        """CNI_ARGS "K=V;K2=V2" as a dict (code 4 when malformed)."""
        out = {}
        for pair in filter(None, self.args.split(";")):
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise CniError(errors.INVALID_ENVIRONMENT, "invalid CNI_ARGS", f"bad pair {pair!r}")
            out[key] = value
        return out


def valid_attachments(config: dict[str, Any]) -> set[tuple[str, str]]:
    """GC's still-valid (containerID, ifname) pairs; both key spellings are accepted."""
    items = config.get("cni.dev/valid-attachments")
    if items is None:
        items = config.get("cni.dev/attachments") or []
    if not isinstance(items, list):
        raise CniError(errors.INVALID_CONFIG, "cni.dev/valid-attachments must be a list")
    return {(str(a.get("containerID", "")), str(a.get("ifname", ""))) for a in items
            if isinstance(a, dict)}


class Plugin:
    """Base class: override the verbs the plugin supports."""

    def add(self, args: CmdArgs) -> Result:
        raise CniError(errors.INVALID_ENVIRONMENT, "command not supported", "CNI_COMMAND=ADD")

    def delete(self, args: CmdArgs) -> None:
        raise CniError(errors.INVALID_ENVIRONMENT, "command not supported", "CNI_COMMAND=DEL")

    def check(self, args: CmdArgs) -> None:
        raise CniError(errors.INVALID_ENVIRONMENT, "command not supported", "CNI_COMMAND=CHECK")

    def status(self, args: CmdArgs) -> None:
        return None

    def gc(self, args: CmdArgs) -> None:
        return None


def _check_env(command: str, env: dict[str, str]) -> None:
    missing = [name for name in _REQUIRED[command] if not env.get(name)]
    if missing:
        raise CniError(errors.INVALID_ENVIRONMENT, "required environment variables missing",
                       ", ".join(missing))
    cid = env.get("CNI_CONTAINERID", "")
    if cid and not valid_container_id(cid):
        raise CniError(errors.INVALID_ENVIRONMENT, "invalid CNI_CONTAINERID", f"CNI_CONTAINERID={cid!r}")
    ifname = env.get("CNI_IFNAME", "")
    if ifname and (len(ifname) > 15 or ifname in (".", "..")
                   or any(c in ifname for c in "/: \t\n")):
        raise CniError(errors.INVALID_ENVIRONMENT, "invalid CNI_IFNAME", f"CNI_IFNAME={ifname!r}")


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        config = jsonio.loads(raw)
    except ValueError as err:
        raise CniError(errors.DECODING_FAILURE, "failed to decode network config", str(err)) from None
    if not isinstance(config, dict):
        raise CniError(errors.DECODING_FAILURE, "network config is not a JSON object")
    return config


def _version_reply(raw: bytes) -> dict[str, Any]:
    version = LATEST
    if raw.strip():
        asked = _decode(raw).get("cniVersion")
        if isinstance(asked, str) and asked:
            version = asked
    return {"cniVersion": version, "supportedVersions": list(SUPPORTED_VERSIONS)}


def _dispatch(
    plugin: Plugin, env: dict[str, str], stdin: TextIO | None, seen: dict[str, str]
) -> dict[str, Any] | None:
    command = env.get("CNI_COMMAND", "")
    if command not in COMMANDS:
        raise CniError(errors.INVALID_ENVIRONMENT, "unknown or missing CNI_COMMAND",
                       f"CNI_COMMAND={command!r}")
    try:
        if stdin is None:
            raise OSError("stdin is closed")
        raw = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()
    except OSError as err:
        raise CniError(errors.IO_FAILURE, "failed to read network config from stdin",
                       str(err)) from None
    if command == "VERSION":
        return _version_reply(raw)
    _check_env(command, env)
    args = CmdArgs(
        command=command,
        container_id=env.get("CNI_CONTAINERID", ""),
        netns=env.get("CNI_NETNS", ""),
        ifname=env.get("CNI_IFNAME", ""),
        args=env.get("CNI_ARGS", ""),
        path=[p for p in env.get("CNI_PATH", "").split(os.pathsep) if p],
        stdin=raw,
        config=_decode(raw),
        environ=env,
    )
    if args.version in SUPPORTED_VERSIONS:
        seen["version"] = args.version
    require_supported(args.version)
    minimum = _MIN_VERSION.get(command)
    if minimum and not at_least(args.version, minimum):
        raise CniError(errors.INCOMPATIBLE_VERSION, f"config version does not allow {command}",
                       f"{command} needs cniVersion >= {minimum}, config has {args.version}")
    if command == "ADD":
        from podnet.cni.result import to_version

        return to_version(plugin.add(args), args.version)
    getattr(plugin, {"DEL": "delete", "CHECK": "check", "GC": "gc", "STATUS": "status"}[command])(
        args)
    return None


def run(plugin: Plugin, env: dict[str, str] | None = None) -> int:
    """The whole plugin process: returns the exit status (0 success, 1 error)."""
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but the result/error may reach the real stdout
    seen = {"version": LATEST}
    try:
        reply = _dispatch(plugin, dict(os.environ) if env is None else env, sys.stdin, seen)
        if reply is not None:
            out.write(jsonio.dumps(reply))
            out.write("\n")
        return 0
    except CniError as err:
        reply = err.to_json(seen["version"])
    except Exception as err:  # a bug or an unexpected kernel answer: still speak CNI
        import traceback

        traceback.print_exc(file=sys.stderr)
        reply = CniError(errors.INTERNAL, "internal error", f"{type(err).__name__}: {err}"
                         ).to_json(seen["version"])
    finally:
        sys.stdout = out
    out.write(jsonio.dumps(reply))
    out.write("\n")
    return 1
