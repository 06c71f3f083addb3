"""Answers as plain data: resource records and the answer to one question.

A ``Record`` holds its data in presentation form (what ``dig`` prints:
``10.96.0.1``, ``0 50 80 web.default.svc.cluster.local.``, ``"1.1.0"``), so an
``Answer`` prints as dig-like lines, turns into the JSON of ``podnet dns -o
json`` and is encoded to wire format by ``podnet.dns.wire`` — one value for the
server, the offline resolver and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NOERROR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = "NOERROR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"
NODATA_RCODE = "NODATA"  # not an rcode: how resolution traces show NOERROR without records


def fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


@dataclass(frozen=True)
class Record:
    name: str  # owner, absolute with the trailing dot
    type: str  # "A", "SRV", ...
    ttl: int
    data: str  # presentation form

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "data": self.data}

    def line(self) -> str:
        return f"{self.name}\t{self.ttl}\tIN\t{self.type}\t{self.data}"


@dataclass
class Answer:
    """The answer to one question: rcode plus the three record sections.

    ``chase`` is set when the answer ends in a CNAME to a name outside the zone:
    ``(target, qtype)`` still to be resolved upstream (the server does it; the
    offline resolver does it when given an upstream). ``authoritative`` is
    False for answers relayed from an upstream.
    """

    rcode: str = NOERROR
    answer: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)
    chase: tuple[str, str] | None = None
    authoritative: bool = True
    comment: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rcode": self.rcode,
            "answers": [r.to_json() for r in self.answer],
            "authority": [r.to_json() for r in self.authority],
        }
        if self.comment:
            out["comment"] = self.comment
        if self.additional:
            out["additional"] = [r.to_json() for r in self.additional]
        return out

    def lines(self) -> list[str]:
        """dig-like output: a status line, then each non-empty section."""
        out = [f";; status: {self.rcode}"]
        if self.comment:
            out.append(f";; {self.comment}")
        for title, recs in (("ANSWER", self.answer), ("AUTHORITY", self.authority),
                            ("ADDITIONAL", self.additional)):
            if recs:
                out.append(f";; {title} SECTION:")
                out.extend(r.line() for r in recs)
        return out

    def datas(self, rtype: str | None = None) -> list[str]:
        """The data of the answer records (of one type): handy in tests and scripts."""
        return [r.data for r in self.answer if rtype is None or r.type == rtype]
