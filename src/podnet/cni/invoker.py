"""The runtime side of CNI (libcni-like): run a conflist's plugins for an attachment.

``CniInvoker`` executes plugins the way the spec's section 3 says a runtime
must: the ``type`` executable from the CNI path, CNI_* variables in the
environment, the request configuration (see :mod:`podnet.cni.conflist`) on
stdin, the result or an error on stdout. ADD runs the chain in order, each
plugin getting the previous result; when any plugin fails, the chain is
DELeted (in reverse) before the error is raised. The final ADD result is
cached per attachment in ``CACHE_DIR/results/NETWORK-CONTAINERID-IFNAME``
(the same ``cniCacheV1`` record libcni writes), and DEL and CHECK hand it back
as ``prevResult``. GC first DELetes cached attachments that are no longer
valid, then sends GC with the valid list to every plugin (1.1.0+); STATUS asks
every plugin (1.1.0+).

Plugins run in the calling thread's network namespace, or in ``netns`` when
given (entered with setns around the fork, so the child starts there). With a
:class:`~podnet.cni.zygote.Zygote`, podnet's own launchers are run as forks of
that pre-imported process (same inputs, same outputs); everything else is exec'd.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from podnet.cni import errors
from podnet.cni.conflist import NetworkConfigList, request_config
from podnet.cni.errors import CniError
from podnet.cni.result import Result, at_least

if TYPE_CHECKING:
    from podnet.cni.zygote import Zygote

CACHE_KIND = "cniCacheV1"


@dataclass
class RuntimeConf:
    """One attachment's parameters (spec: "Attachment Parameters")."""

    container_id: str
    netns: str
    ifname: str = "eth0"
    args: list[tuple[str, str]] = field(default_factory=list)
    capability_args: dict[str, Any] = field(default_factory=dict)


class CniInvoker:
    def __init__(self, cni_path: list[str] | str, cache_dir: str, netns: str | None = None,
                 timeout: float = 60.0, zygote: Zygote | None = None) -> None:
        self.path = cni_path.split(os.pathsep) if isinstance(cni_path, str) else list(cni_path)
        self.cache_dir = cache_dir
        self.netns = netns
        self.timeout = timeout
        self.zygote = zygote

    # -- plugin execution -------------------------------------------------------------------
    def find(self, plugin_type: str) -> str:
        if not plugin_type or "/" in plugin_type:
            raise CniError(errors.INVALID_CONFIG, "invalid plugin type", repr(plugin_type))
        for directory in self.path:
            exe = os.path.join(directory, plugin_type)
            if os.path.isfile(exe) and os.access(exe, os.X_OK):
                return exe
        raise CniError(errors.INVALID_CONFIG, f"failed to find plugin {plugin_type!r}",
                       f"not in {os.pathsep.join(self.path)}")

    @contextlib.contextmanager
    def _in_netns(self) -> Iterator[None]:
        if self.netns is None:
            yield
            return
        from podnet.kernel import netns

        with netns.entered(self.netns):
            yield

    def exec_plugin(self, plugin_type: str, command: str, config: dict[str, Any],
                    rt: RuntimeConf | None = None) -> dict[str, Any] | None:
        """Run one plugin once; its parsed stdout (None when empty) or CniError."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        env["CNI_COMMAND"] = command
        env["CNI_PATH"] = os.pathsep.join(self.path)
        if rt is not None:
            env.update(CNI_CONTAINERID=rt.container_id, CNI_NETNS=rt.netns, CNI_IFNAME=rt.ifname,
                       CNI_ARGS=";".join(f"{k}={v}" for k, v in rt.args))
        exe = self.find(plugin_type)
        data = json.dumps(config).encode()
        module = self.zygote.module_of(exe) if self.zygote is not None else None
        with self._in_netns():
            try:
                if module is not None:
                    assert self.zygote is not None
                    returncode, stdout, stderr = self.zygote.run(module, env, data, self.timeout)
                else:
                    proc = subprocess.run([exe], input=data, env=env, capture_output=True,
                                          timeout=self.timeout)
                    returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
            except (OSError, subprocess.TimeoutExpired) as err:
                raise CniError(errors.IO_FAILURE, f"failed to run {plugin_type}", str(err)) from None
        reply = errors.plugin_reply(plugin_type, returncode, stdout, stderr)
        return reply if isinstance(reply, dict) else None

    def version(self, plugin_type: str, cni_version: str = "1.1.0") -> dict[str, Any]:
        """The plugin's VERSION answer."""
        reply = self.exec_plugin(plugin_type, "VERSION", {"cniVersion": cni_version})
        return reply or {}

    # -- attachments -------------------------------------------------------------------------
    def add(self, net: NetworkConfigList, rt: RuntimeConf) -> Result:
        prev: dict[str, Any] | None = None
        try:
            for plugin in net.plugins:
                config = request_config(net, plugin, rt.capability_args, prev)
                prev = self.exec_plugin(plugin["type"], "ADD", config, rt)
                if prev is None:
                    raise CniError(errors.DECODING_FAILURE, f"{plugin['type']} returned no result")
        except CniError:
            with contextlib.suppress(CniError):
                self._run_del(net, rt, None)
            raise
        assert prev is not None
        self._write_cache(net, rt, prev)
        return prev

    def _run_del(self, net: NetworkConfigList, rt: RuntimeConf, prev: Result | None) -> None:
        for plugin in reversed(net.plugins):
            config = request_config(net, plugin, rt.capability_args, prev)
            self.exec_plugin(plugin["type"], "DEL", config, rt)

    def delete(self, net: NetworkConfigList, rt: RuntimeConf) -> None:
        """DEL in reverse order with the cached result; forgets the attachment on success."""
        cached = self.cached(net.name, rt.container_id, rt.ifname)
        self._run_del(net, rt, (cached or {}).get("result"))
        self._drop_cache(net.name, rt.container_id, rt.ifname)

    def check(self, net: NetworkConfigList, rt: RuntimeConf) -> None:
        if net.disable_check:
            return
        if not at_least(net.cni_version, "0.4.0"):
            raise CniError(errors.INCOMPATIBLE_VERSION, "CHECK needs cniVersion >= 0.4.0",
                           net.cni_version)
        cached = self.cached(net.name, rt.container_id, rt.ifname)
        if cached is None or not cached.get("result"):
            raise CniError(errors.UNKNOWN_CONTAINER, "no cached result for the attachment",
                           f"{net.name}/{rt.container_id}/{rt.ifname}")
        for plugin in net.plugins:
            config = request_config(net, plugin, rt.capability_args, cached["result"])
            self.exec_plugin(plugin["type"], "CHECK", config, rt)

    def gc(self, net: NetworkConfigList, valid: list[tuple[str, str]]) -> None:
        """Clean up everything of ``net`` that is not one of the ``valid`` attachments."""
        keep = set(valid)
        failures: list[CniError] = []
        for record in self.cached_attachments(net.name):
            if (record.get("containerId"), record.get("ifName")) in keep:
                continue
            rt = RuntimeConf(record["containerId"], record.get("netns", ""), record["ifName"],
                             [tuple(a) for a in record.get("cniArgs") or []],  # type: ignore[misc]
                             record.get("capabilityArgs") or {})
            try:
                self.delete(net, rt)
            except CniError as err:
                failures.append(err)
        if at_least(net.cni_version, "1.1.0") and not net.disable_gc:
            attachments = [{"containerID": c, "ifname": i} for c, i in sorted(keep)]
            extra = {"cni.dev/valid-attachments": attachments, "cni.dev/attachments": attachments}
            for plugin in net.plugins:
                try:
                    self.exec_plugin(plugin["type"], "GC", request_config(net, plugin, extra=extra))
                except CniError as err:
                    failures.append(err)
        if failures:
            raise failures[0]

    def status(self, net: NetworkConfigList) -> None:
        if not at_least(net.cni_version, "1.1.0"):
            return
        for plugin in net.plugins:
            self.exec_plugin(plugin["type"], "STATUS", request_config(net, plugin))

    # -- result cache -------------------------------------------------------------------------
    def _cache_file(self, network: str, container_id: str, ifname: str) -> str:
        return os.path.join(self.cache_dir, "results", f"{network}-{container_id}-{ifname}")

    def _write_cache(self, net: NetworkConfigList, rt: RuntimeConf, result: Result) -> None:
        record = {
            "kind": CACHE_KIND,
            "containerId": rt.container_id,
            "config": base64.b64encode(net.bytes).decode(),
            "ifName": rt.ifname,
            "networkName": net.name,
            "netns": rt.netns,
            "cniArgs": [list(a) for a in rt.args],
            "capabilityArgs": rt.capability_args,
            "result": result,
        }
        path = self._cache_file(net.name, rt.container_id, rt.ifname)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.replace(tmp, path)

    def _drop_cache(self, network: str, container_id: str, ifname: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._cache_file(network, container_id, ifname))

    def cached(self, network: str, container_id: str, ifname: str) -> dict[str, Any] | None:
        """The cache record of an attachment (``record["result"]`` is the ADD result)."""
        try:
            with open(self._cache_file(network, container_id, ifname)) as f:
                record = json.load(f)
        except (FileNotFoundError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("kind") == CACHE_KIND else None

    def cached_attachments(self, network: str) -> list[dict[str, Any]]:
        directory = os.path.join(self.cache_dir, "results")
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            if not name.startswith(f"{network}-") or name.endswith(".tmp"):
                continue
            try:
                with open(os.path.join(directory, name)) as f:
                    record = json.load(f)
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and record.get("networkName") == network:
                out.append(record)
        return out
