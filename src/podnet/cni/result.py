"""CNI versions and results: which versions podnet speaks, and result conversion.

Results are plain JSON dicts. Internally podnet works on the 1.x shape
(``ips`` entries without ``version``); :func:`to_version` renders one for a
requested version and :func:`normalize` reads any supported version back.

Differences handled: 0.3.x/0.4.0 ``ips`` entries carry ``"version": "4"|"6"``;
route ``mtu``/``advmss``/``priority``/``table``/``scope`` and interface
``pciID``/``socketPath`` exist from 1.1.0 only. CHECK exists from 0.4.0, GC
and STATUS from 1.1.0.
"""

from __future__ import annotations

from podnet.cni import jsonio
from podnet.cni.errors import INCOMPATIBLE_VERSION, CniError

TYPE_CHECKING = False  # importing typing costs ~5 ms per plugin process
if TYPE_CHECKING:
    from typing import Any

SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST = "1.1.0"
_ROUTE_11 = ("mtu", "advmss", "priority", "table", "scope")
_IFACE_11 = ("pciID", "socketPath")

Result = dict[str, "Any"]  # a string: no typing import at run time


def parse(version: str) -> tuple[int, int, int]:
    """"1.0.0" -> (1, 0, 0); raises ValueError on anything else."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"invalid version {version!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def at_least(version: str, minimum: str) -> bool:
    return parse(version) >= parse(minimum)


def require_supported(version: str) -> None:
    """Error code 1, naming what is supported, unless podnet speaks ``version``."""
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            INCOMPATIBLE_VERSION,
            "incompatible CNI version",
            f"config version is {version or '(none)'}; "
            f"plugin supports only {', '.join(SUPPORTED_VERSIONS)}",
        )


def highest(versions: list[str], among: tuple[str, ...] = SUPPORTED_VERSIONS) -> str | None:
    """The highest of ``versions`` that is also in ``among``."""
    usable = [v for v in versions if v in among]
    return max(usable, key=parse) if usable else None


def normalize(result: Result) -> Result:
    """A copy of ``result`` (any supported version) in podnet's internal 1.x shape."""
    version = str(result.get("cniVersion", LATEST))
    require_supported(version)
    out = jsonio.loads(jsonio.dumps(result))
    for ip in out.get("ips", []):
        ip.pop("version", None)
    return out


def _ip_version(address: str) -> str:
    return "6" if ":" in address else "4"


def to_version(result: Result, version: str) -> Result:
    """Render an internal result for ``version`` (fields it does not know are dropped)."""
    require_supported(version)
    out = jsonio.loads(jsonio.dumps(result))
    out["cniVersion"] = version
    legacy = not at_least(version, "1.0.0")
    for ip in out.get("ips", []):
        if legacy:
            ip["version"] = _ip_version(str(ip.get("address", "")))
        else:
            ip.pop("version", None)
    if not at_least(version, "1.1.0"):
        for route in out.get("routes", []):
            for key in _ROUTE_11:
                route.pop(key, None)
        for iface in out.get("interfaces", []):
            for key in _IFACE_11:
                iface.pop(key, None)
    if "dns" in out and not out["dns"]:
        del out["dns"]
    return out


def empty(version: str) -> Result:
    return {"cniVersion": version, "interfaces": [], "ips": [], "routes": [], "dns": {}}
