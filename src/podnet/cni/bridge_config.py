"""podnet-bridge configuration: options, defaults, validation (pure).

Options (all optional): ``bridge`` (default ``cni0``), ``isGateway``,
``isDefaultGateway`` (implies isGateway), ``forceAddress``, ``ipMasq``,
``mtu``, ``hairpinMode``, ``promiscMode``, ``ipam``, ``dns``. Options the
reference bridge knows but podnet-bridge does not implement (VLANs, MAC spoof
check, ...) are refused with code 2 naming the key and value when set to a
non-default value; wrong types are code 7.
"""

from __future__ import annotations

import zlib

from podnet.cni import errors
from podnet.cni.errors import CniError

TYPE_CHECKING = False  # importing typing costs ~5 ms per plugin process
if TYPE_CHECKING:
    from typing import Any

DEFAULT_BRIDGE = "cni0"
HOST_VETH_PREFIX = "pnv"
# Reference-bridge options podnet-bridge does not implement, with their no-op values.
UNSUPPORTED: dict[str, tuple[Any, Any]] = {
    "vlan": (0, None),
    "vlanTrunk": (None, []),
    "preserveDefaultVlan": (None, True),
    "macspoofchk": (None, False),
    "enabledad": (None, False),
    "disableContainerInterface": (None, False),
    "portIsolation": (None, False),
}


class BridgeConf:
    """The parsed options (a plain class: NamedTuple would import typing at start-up)."""

    __slots__ = (
        "bridge",
        "dns",
        "force_address",
        "hairpin",
        "has_ipam",
        "ip_masq",
        "is_default_gateway",
        "is_gateway",
        "mtu",
        "network",
        "promisc",
    )

    def __init__(self, network: str, bridge: str = DEFAULT_BRIDGE, is_gateway: bool = False,
                 is_default_gateway: bool = False, force_address: bool = False,
                 ip_masq: bool = False, mtu: int = 0, hairpin: bool = False,
                 promisc: bool = False, has_ipam: bool = False,
                 dns: dict[str, Any] | None = None) -> None:
        self.network = network
        self.bridge = bridge
        self.is_gateway = is_gateway
        self.is_default_gateway = is_default_gateway
        self.force_address = force_address
        self.ip_masq = ip_masq
        self.mtu = mtu
        self.hairpin = hairpin
        self.promisc = promisc
        self.has_ipam = has_ipam
        self.dns: dict[str, Any] = {} if dns is None else dns

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"BridgeConf({fields})"


def _bool(config: dict[str, Any], key: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        raise CniError(errors.INVALID_CONFIG, f"{key} must be a boolean", f"{key}={value!r}")
    return value


def parse(config: dict[str, Any]) -> BridgeConf:
    for key, defaults in UNSUPPORTED.items():
        if key in config and config[key] not in defaults:
            raise CniError(errors.UNSUPPORTED_FIELD, "unsupported field in network configuration",
                           f"{key}={config[key]!r}")
    name = config.get("name")
    if not isinstance(name, str) or not name:
        raise CniError(errors.INVALID_CONFIG, "missing network name", "name")
    bridge = config.get("bridge") or DEFAULT_BRIDGE
    if not isinstance(bridge, str) or len(bridge) > 15 or "/" in bridge or " " in bridge:
        raise CniError(errors.INVALID_CONFIG, "invalid bridge name", f"bridge={bridge!r}")
    mtu = config.get("mtu", 0) or 0
    if not isinstance(mtu, int) or isinstance(mtu, bool) or mtu < 0 or (mtu and mtu < 68):
        raise CniError(errors.INVALID_CONFIG, "invalid mtu", f"mtu={mtu!r}")
    ipam = config.get("ipam")
    if ipam is not None and (not isinstance(ipam, dict) or not ipam.get("type")):
        raise CniError(errors.INVALID_CONFIG, "ipam must name a type", f"ipam={ipam!r}")
    dns = config.get("dns") or {}
    if not isinstance(dns, dict):
        raise CniError(errors.INVALID_CONFIG, "dns must be an object", f"dns={dns!r}")
    default_gw = _bool(config, "isDefaultGateway")
    return BridgeConf(
        network=name,
        bridge=bridge,
        is_gateway=_bool(config, "isGateway") or default_gw,
        is_default_gateway=default_gw,
        force_address=_bool(config, "forceAddress"),
        ip_masq=_bool(config, "ipMasq"),
        mtu=mtu,
        hairpin=_bool(config, "hairpinMode"),
        promisc=_bool(config, "promiscMode"),
        has_ipam=ipam is not None,
        dns=dns,
    )


def host_veth_name(container_id: str, ifname: str) -> str:
    """The host end's name: stable per attachment, so DEL and GC can find it."""
    key = f"{container_id}/{ifname}".encode()
    # zlib's checksums, not hashlib: hashlib's import (OpenSSL) costs more than the whole lookup
    return HOST_VETH_PREFIX + f"{zlib.crc32(key):08x}{zlib.adler32(key):08x}"[:12]
