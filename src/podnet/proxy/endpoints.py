"""EndpointSlices -> the endpoints of each service port, and which of them to use.

EndpointSlices (discovery.k8s.io/v1) carry the resolved target port per slice
port (a named targetPort may resolve to different numbers on different pods,
which is why the controller groups pods with equal ports into one slice), and
per endpoint the conditions ready/serving/terminating and the nodeName.

Selection follows kube-proxy (KEP-1669, KEP-2086): use ready endpoints; only
when there are none, fall back to endpoints that are serving *and*
terminating, so a rolling update never leaves a service empty while old pods
still answer. The same rule applies separately to the node-local subset used
by the Local traffic policies.
"""

from __future__ import annotations

from collections.abc import Iterable

from podnet.api.kinds import Obj, labels_of, namespace_of
from podnet.proxy.model import Endpoint

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _cond(conditions: dict[str, object], name: str, default: bool) -> bool:
    value = conditions.get(name)
    return default if value is None else bool(value)


def slices_by_service(slices: Iterable[Obj]) -> dict[str, list[Obj]]:
    """IPv4 slices grouped by their owning service ("namespace/name")."""
    grouped: dict[str, list[Obj]] = {}
    for sl in slices:
        if sl.get("addressType", "IPv4") != "IPv4":
            continue
        svc = labels_of(sl).get(SERVICE_NAME_LABEL)
        if not svc:
            continue
        grouped.setdefault(f"{namespace_of(sl) or 'default'}/{svc}", []).append(sl)
    return grouped


def endpoints_for_port(slices: Iterable[Obj], port_name: str, protocol: str) -> list[Endpoint]:
    """Every endpoint of the service port named ``port_name`` (deduplicated, sorted).

    When the same ip:port appears twice (e.g. in an old and a new slice), the
    entry with the best conditions wins (ready > serving > anything).
    """
    best: dict[tuple[str, int], Endpoint] = {}
    for sl in slices:
        for sp in sl.get("ports") or []:
            if (sp.get("name") or "") != port_name:
                continue
            if (sp.get("protocol") or "TCP").upper() != protocol.upper():
                continue
            port = sp.get("port")
            if not isinstance(port, int):
                continue
            for ep in sl.get("endpoints") or []:
                addresses = ep.get("addresses") or []
                if not addresses:
                    continue
                cond = ep.get("conditions") or {}
                ready = _cond(cond, "ready", True)
                e = Endpoint(
                    ip=str(addresses[0]),
                    port=port,
                    node=str(ep.get("nodeName") or ""),
                    ready=ready,
                    serving=_cond(cond, "serving", ready),
                    terminating=_cond(cond, "terminating", False),
                )
                old = best.get((e.ip, e.port))
                if old is None or _rank(e) > _rank(old):
                    best[(e.ip, e.port)] = e
    return sorted(best.values())


def _rank(e: Endpoint) -> int:
    return 2 * e.ready + e.serving


def usable(endpoints: Iterable[Endpoint]) -> tuple[Endpoint, ...]:
    """Ready endpoints, or else the serving-and-terminating ones (KEP-1669)."""
    eps = list(endpoints)
    ready = tuple(e for e in eps if e.ready)
    if ready:
        return ready
    return tuple(e for e in eps if e.serving and e.terminating)


def local_usable(endpoints: Iterable[Endpoint], node: str) -> tuple[Endpoint, ...]:
    """:func:`usable` applied to the endpoints on ``node`` only."""
    return usable(e for e in endpoints if e.node == node)
