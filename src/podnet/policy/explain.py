"""``podnet explain SRC DST[:PORT[/PROTO]]``: verdicts in words.

``parse_target`` reads ``ns/pod:80/udp``; without a port, every port the
destination pod declares is explained. ``format_verdict`` renders one
``Verdict`` with its reasons, e.g.::

    x/b -> x/a 80/TCP: DENIED (denied: no rule allows ingress)
      egress of x/b: allowed (no policy selects x/b for egress)
      ingress of x/a: denied; isolated by x/deny-all
        no ingress rule of x/deny-all admits it
"""

from __future__ import annotations

from podnet.policy.model import PROTOCOLS
from podnet.policy.resolve import Resolved
from podnet.policy.semantics import DirectionVerdict, Verdict, endpoint, verdict


def parse_target(text: str) -> tuple[str, int | None, str]:
    """``DST[:PORT[/PROTO]]`` -> (dst, port or None, protocol). IPv6 is not a DST."""
    dst, _, rest = text.partition(":")
    if not rest:
        return dst, None, "TCP"
    port_text, _, proto = rest.partition("/")
    proto = (proto or "TCP").upper()
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port {port_text!r} in {text!r}")
    if proto not in PROTOCOLS:
        raise ValueError(f"bad protocol {proto!r}: use one of {', '.join(PROTOCOLS)}")
    return dst, int(port_text), proto


def explain(resolved: Resolved, src: str, target: str) -> list[Verdict]:
    """Verdicts for ``target``; every declared port of the destination when none is given."""
    dst, port, proto = parse_target(target)
    if port is not None:
        return [verdict(resolved, src, dst, port, proto)]
    d = endpoint(resolved, dst)
    if d.index is None:
        raise ValueError(f"destination {dst!r} is not a known pod")
    declared = sorted({(cp.port, cp.protocol) for cp in resolved.pods[d.index].ports})
    if not declared:
        raise ValueError(f"{d.label} declares no containerPort: give DST:PORT[/PROTO]")
    return [verdict(resolved, src, dst, p, pr) for p, pr in declared]


def _direction_lines(v: DirectionVerdict, who: str) -> list[str]:
    state = "allowed" if v.allowed else "denied"
    head = f"  {v.direction} of {who}: {state}"
    if v.isolated_by:
        head += f"; isolated by {', '.join(v.isolated_by)}"
    lines = [head + (f" ({v.note})" if v.note and not v.isolated_by else "")]
    for m in v.matches:
        lines.append(f"    allowed by {m.policy} {m.direction} rule {m.rule + 1}: "
                     f"peer {m.peer}, port {m.port}")
    if v.isolated_by and v.note:
        lines.append(f"    {v.note}")
    return lines


def format_verdict(v: Verdict) -> str:
    lines = [f"{v.src} -> {v.dst} {v.port}/{v.protocol}: "
             f"{'ALLOWED' if v.allowed else 'DENIED'} ({v.reason})"]
    if v.egress is not None:
        lines += _direction_lines(v.egress, v.src)
    if v.ingress is not None:
        lines += _direction_lines(v.ingress, v.dst)
    return "\n".join(lines)


def format_verdicts(verdicts: list[Verdict]) -> str:
    return "\n".join(format_verdict(v) for v in verdicts) + "\n"
