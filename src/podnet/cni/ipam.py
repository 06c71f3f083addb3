"""Delegation to an IPAM plugin, exactly as spec section 4 describes.

The IPAM executable named by ``ipam.type`` is looked up in the directories of
``CNI_PATH`` (first match wins), run with the *same* environment and the
*same* configuration bytes the calling plugin received (only ``CNI_COMMAND``
changes, e.g. DEL after a failed ADD), its stderr goes straight to ours, and
its stdout is the result or the error. A delegated error keeps its code.
"""

from __future__ import annotations

import json
import os
import subprocess

from podnet.cni import errors
from podnet.cni.errors import CniError
from podnet.cni.result import Result, normalize
from podnet.cni.skel import CmdArgs


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


def ipam_type(args: CmdArgs) -> str | None:
    ipam = args.config.get("ipam")
    if ipam is None:
        return None
    if not isinstance(ipam, dict) or not isinstance(ipam.get("type"), str):
        raise CniError(errors.INVALID_CONFIG, "ipam must be an object with a string type")
    return str(ipam["type"])


def delegate(args: CmdArgs, command: str | None = None) -> Result | None:
    """Run the IPAM plugin for ``command`` (default: ours); the ADD result or None."""
    plugin_type = ipam_type(args)
    if plugin_type is None:
        return None
    exe = find_in_path(plugin_type, args.path)
    env = args.env()
    command = command or args.command
    env["CNI_COMMAND"] = command
    try:
        proc = subprocess.run([exe], input=args.stdin, stdout=subprocess.PIPE, env=env)
    except OSError as err:
        raise CniError(errors.IO_FAILURE, f"failed to run {plugin_type}", str(err)) from None
    out = proc.stdout.strip()
    reply = None
    if out:
        try:
            reply = json.loads(out)
        except ValueError:
            raise CniError(errors.DECODING_FAILURE, f"{plugin_type} printed non-JSON output",
                           out[:200].decode(errors="replace")) from None
    if proc.returncode != 0:
        if isinstance(reply, dict) and "code" in reply:
            raise CniError.from_json(reply)
        raise CniError(errors.INTERNAL, f"{plugin_type} failed with exit status {proc.returncode}")
    if command != "ADD":
        return None
    if not isinstance(reply, dict):
        raise CniError(errors.DECODING_FAILURE, f"{plugin_type} returned no result")
    return normalize(reply)
