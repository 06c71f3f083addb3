"""CNI errors: the spec's well-known codes, podnet's plugin-specific codes, JSON output.

A plugin that fails prints ``{"cniVersion", "code", "msg", "details"}`` on
stdout and exits non-zero; the invoker raises the same :class:`CniError` when
a plugin it ran reported one, so errors keep their code end to end.
"""

from __future__ import annotations

from podnet.cni import jsonio

TYPE_CHECKING = False  # importing typing costs ~5 ms per plugin process
if TYPE_CHECKING:
    from typing import Any

# Spec 1.1, section 5 ("Error").
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODING_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
# STATUS only.
NOT_AVAILABLE = 50
LIMITED_CONNECTIVITY = 51

# podnet plugin-specific codes (>= 100), documented in docs/cni.md.
NO_FREE_ADDRESS = 100  # host-local: every range of a range set is full
INTERFACE_EXISTS = 101  # bridge: CNI_IFNAME already exists in CNI_NETNS on ADD
CHECK_FAILED = 102  # CHECK: an interface, address, route, lease or rule is missing
INTERNAL = 999  # unexpected failure (kernel refused an operation, ...)

MESSAGES = {
    INCOMPATIBLE_VERSION: "Incompatible CNI version",
    UNSUPPORTED_FIELD: "Unsupported field in network configuration",
    UNKNOWN_CONTAINER: "Container unknown or does not exist",
    INVALID_ENVIRONMENT: "Invalid necessary environment variables",
    IO_FAILURE: "I/O failure",
    DECODING_FAILURE: "Failed to decode content",
    INVALID_CONFIG: "Invalid network config",
    TRY_AGAIN_LATER: "Try again later",
    NOT_AVAILABLE: "Plugin not available",
    LIMITED_CONNECTIVITY: "Plugin not available, existing containers may have limited connectivity",
    NO_FREE_ADDRESS: "No free IP address in range",
    INTERFACE_EXISTS: "Interface already exists in the container",
    CHECK_FAILED: "Check failed",
    INTERNAL: "Internal error",
}


class CniError(Exception):
    """An error with a CNI code; ``to_json`` is what goes on stdout."""

    def __init__(self, code: int, msg: str = "", details: str = "") -> None:
        self.code = code
        self.msg = msg or MESSAGES.get(code, "Plugin error")
        self.details = details
        super().__init__(f"CNI error {code}: {self.msg}" + (f": {details}" if details else ""))

    def to_json(self, cni_version: str) -> dict[str, Any]:
        out: dict[str, Any] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CniError:
        """Rebuild an error a plugin printed (for the invoker and delegation)."""
        code = data.get("code")
        return cls(code if isinstance(code, int) else INTERNAL,
                   str(data.get("msg", "")), str(data.get("details", "")))


def plugin_reply(plugin_type: str, returncode: int, stdout: bytes, stderr: bytes = b"") -> Any:
    """What a plugin process answered (spec section 3): its decoded stdout (None when empty)
    on exit status 0; otherwise the CniError it printed, or an INTERNAL one naming the status.
    Used by the invoker and by IPAM delegation alike."""
    out = stdout.strip()
    reply = None
    if out:
        try:
            reply = jsonio.loads(out)
        except ValueError:
            raise CniError(DECODING_FAILURE, f"{plugin_type} printed non-JSON output",
                           out[:300].decode(errors="replace")) from None
    if returncode != 0:
        if isinstance(reply, dict) and "code" in reply:
            raise CniError.from_json(reply)
        raise CniError(INTERNAL, f"{plugin_type} failed with exit status {returncode}",
                       stderr[-300:].decode(errors="replace"))
    return reply
