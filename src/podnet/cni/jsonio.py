"""JSON for the plugin processes: ``json.loads``/``json.dumps`` without importing :mod:`json`.

Start-up speed is the only reason this exists. ``import json`` pulls in
``re``, ``enum``, ``functools`` and ``collections`` and costs ~10 ms of a
plugin's start on this machine, while the C accelerator ``_json`` that does
the real work loads in well under 1 ms. :func:`loads` and :func:`dumps` drive
that accelerator exactly like ``json.loads(data)`` / ``json.dumps(obj)`` with
default arguments do (same scanner, same encoder, same separators, same
errors). Whatever the fast path does not cover (UTF-16/32 or BOM-prefixed
bytes, a Python without ``_json``, and every malformed input, so that the
error is json's own :class:`json.JSONDecodeError`) is handed to :mod:`json`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None  # type: ignore[assignment]

_WS = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _DecoderOptions:
    """The attributes ``_json.make_scanner`` reads (json.JSONDecoder's defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_CONSTANTS.__getitem__)


def _not_serializable(obj: object) -> Any:
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


_scan: Callable[[str, int], tuple[Any, int]] | None = None
if _json is not None:
    _scan = _json.make_scanner(_DecoderOptions())  # type: ignore[arg-type]  # duck-typed options


def _slow_loads(data: bytes | str) -> Any:
    import json

    return json.loads(data)


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``."""
    if _scan is None or (isinstance(data, str) and data.startswith("\ufeff")) or (
            isinstance(data, bytes) and (b"\0" in data[:4] or data.startswith(
                (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")))):
        return _slow_loads(data)
    text = data.decode("utf-8", "surrogatepass") if isinstance(data, bytes) else data
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, start)
    except Exception:  # let json raise its own error (the scanner needs json.decoder for it)
        return _slow_loads(data)
    if text[end:].lstrip(_WS):
        return _slow_loads(data)  # "Extra data"
    return obj


def dumps(obj: Any) -> str:
    """``json.dumps(obj)``."""
    if _json is None:  # pragma: no cover
        import json

        return json.dumps(obj)
    # a fresh encoder per call: its first argument is the circular-reference memo
    encode = _json.make_encoder({}, _not_serializable, _json.encode_basestring_ascii, None,
                                ": ", ", ", False, False, True)
    return "".join(encode(obj, 0))
