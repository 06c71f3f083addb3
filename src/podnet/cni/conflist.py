"""Network configuration lists (.conflist): loading, version selection, request building.

This is the runtime's half of spec section 1 and 3 ("Deriving request
configuration"): a conflist is read from a file or a config dir (first file
in lexical order, like containerd/CRI-O; a single-plugin ``.conf`` is wrapped
into a list), the protocol version is the highest of ``cniVersion`` and
``cniVersions`` that podnet speaks, and each plugin's request configuration is
the plugin object with ``cniVersion`` and ``name`` inserted, ``capabilities``
removed, ``runtimeConfig`` built from the declared capabilities the runtime
supplies, and ``prevResult`` when there is one. Unknown fields pass through.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from podnet.cni import errors
from podnet.cni.errors import CniError
from podnet.cni.result import SUPPORTED_VERSIONS, highest

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
EXTENSIONS = (".conflist", ".conf", ".json")


@dataclass
class NetworkConfigList:
    name: str
    cni_version: str
    plugins: list[dict[str, Any]]
    disable_check: bool = False
    disable_gc: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def bytes(self) -> bytes:
        return json.dumps(self.raw, sort_keys=True).encode()


def parse_conflist(data: dict[str, Any], source: str = "") -> NetworkConfigList:
    """Validate a conflist (or a single plugin config, which becomes a list of one)."""
    if "plugins" not in data and "type" in data:
        plugin = {k: v for k, v in data.items() if k not in ("cniVersion", "name", "cniVersions")}
        data = {"cniVersion": data.get("cniVersion", ""), "name": data.get("name", ""),
                "plugins": [plugin]}
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise CniError(errors.INVALID_CONFIG, "invalid network name", f"{source}: name={name!r}")
    plugins = data.get("plugins")
    if not isinstance(plugins, list) or not plugins or not all(
            isinstance(p, dict) and isinstance(p.get("type"), str) and p["type"] for p in plugins):
        raise CniError(errors.INVALID_CONFIG, "plugins must be a non-empty list of objects with "
                       "a type", source)
    versions = [str(v) for v in data.get("cniVersions") or []]
    if data.get("cniVersion"):
        versions.append(str(data["cniVersion"]))
    chosen = highest(versions)
    if chosen is None:
        raise CniError(errors.INCOMPATIBLE_VERSION, "no supported CNI version in the config",
                       f"{source}: config has {versions or '(none)'}, podnet supports "
                       f"{', '.join(SUPPORTED_VERSIONS)}")
    return NetworkConfigList(
        name=name,
        cni_version=chosen,
        plugins=plugins,
        disable_check=bool(data.get("disableCheck", False)),
        disable_gc=bool(data.get("disableGC", False)),
        raw=data,
        source=source,
    )


def load_conflist(path: str) -> NetworkConfigList:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except OSError as err:
        raise CniError(errors.IO_FAILURE, "cannot read network config", f"{path}: {err}") from None
    except ValueError as err:
        raise CniError(errors.DECODING_FAILURE, "network config is not JSON",
                       f"{path}: {err}") from None
    if not isinstance(data, dict):
        raise CniError(errors.DECODING_FAILURE, "network config is not a JSON object", path)
    return parse_conflist(data, path)


def find_conflist(conf_dir: str, name: str | None = None) -> NetworkConfigList:
    """The first config in ``conf_dir`` (lexical order), or the one named ``name``."""
    try:
        files = sorted(f for f in os.listdir(conf_dir) if f.endswith(EXTENSIONS))
    except OSError as err:
        raise CniError(errors.IO_FAILURE, "cannot list the CNI config dir",
                       f"{conf_dir}: {err}") from None
    for file in files:
        conf = load_conflist(os.path.join(conf_dir, file))
        if name is None or conf.name == name:
            return conf
    raise CniError(errors.INVALID_CONFIG, "no network configuration found",
                   f"{conf_dir}" + (f" (name {name})" if name else ""))


def request_config(
    net: NetworkConfigList,
    plugin: dict[str, Any],
    capability_args: dict[str, Any] | None = None,
    prev_result: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What one plugin gets on stdin (spec section 3)."""
    out = copy.deepcopy(plugin)
    caps = out.pop("capabilities", None) or {}
    out = {k: v for k, v in out.items() if not k.startswith("cni.dev/")}
    out["cniVersion"] = net.cni_version
    out["name"] = net.name
    runtime_config = {k: v for k, v in (capability_args or {}).items() if caps.get(k)}
    if runtime_config:
        out["runtimeConfig"] = runtime_config
    else:
        out.pop("runtimeConfig", None)
    if prev_result is not None:
        out["prevResult"] = prev_result
    if extra:
        out.update(extra)
    return out
