"""HTTP content negotiation the way client-go does it: media types with ``g``/``v``/``as``
parameters in the Accept header.

kubectl asks ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io, application/json``
for ``get`` and ``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,
application/json`` for discovery; the server answers with the first alternative it
can produce (and says which in Content-Type).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MediaType:
    """``application/json;as=Table;v=v1;g=meta.k8s.io`` -> type, and params as a dict."""

    type: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def as_(self) -> str:
        return self.params.get("as", "")

    def is_json(self) -> bool:
        return self.type in ("application/json", "*/*", "application/*")


def parse_accept(header: str | None) -> list[MediaType]:
    """The alternatives of an Accept header, in the client's order (q-values ignored:
    client-go lists its preferences first)."""
    out: list[MediaType] = []
    for part in (header or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        params: dict[str, str] = {}
        for f in fields[1:]:
            k, _, v = f.partition("=")
            if k and k != "q":
                params[k.strip().lower()] = v.strip().strip('"')
        out.append(MediaType(fields[0].lower(), params))
    return out


def wants(header: str | None, as_: str, group: str, versions: tuple[str, ...]) -> str | None:
    """The version of ``as_`` (a kind, say Table in meta.k8s.io) the client prefers over a plain
    answer, or None when the first acceptable alternative is plain JSON."""
    for mt in parse_accept(header):
        if not mt.is_json():
            continue
        if not mt.as_:
            return None
        if mt.as_ == as_ and mt.params.get("g") == group and mt.params.get("v") in versions:
            return mt.params["v"]
    return None


def content_type(as_: str, group: str, version: str) -> str:
    return f"application/json;g={group};v={version};as={as_}"
