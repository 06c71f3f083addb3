"""The nftables layout: a :class:`ProxyPlan` -> a :class:`DesiredState` whose size is linear.

kube-proxy (iptables and nftables modes) writes a chain per service and per
endpoint; loading 10k services x 3 endpoints that way takes ~34 s here. This
layout has a fixed set of maps, and chains only per *distinct endpoint count*
(``numgen random mod N`` needs a constant N), so load time grows with the
number of map elements only. Every frontend is the key
``ip daddr . meta l4proto . th dport`` (NodePorts are keyed on each node IP).

A new connection walks::

  filter-prerouting/-output (priority dstnat-10, ct state new)
    firewall: frontend in @firewall-restricted and (frontend . saddr) not in
              @firewall-allow -> drop            (loadBalancerSourceRanges)
    @no-endpoints: frontend -> goto reject-service | drop
  nat-prerouting/-output (priority dstnat) -> services
    @service-ips: frontend -> goto cluster-ip-<pick> | external | external-local
      cluster-ip-<pick>: saddr not a pod -> mark for masquerade; goto <pick>
                      (a ClusterIP needs one lookup, not two: 10k fewer elements at 10k)
      external:       mark for masquerade; vmap @dispatch
      external-local: pod source -> vmap @dispatch (no SNAT);
                      node's own source -> masquerade, vmap @dispatch;
                      else vmap @local-dispatch; no local endpoint -> drop
    @dispatch / @local-dispatch: frontend -> goto pick-N | affinity-T-N
      pick-N: dnat to (frontend . numgen random mod N) map @endpoints
      affinity-T-N: if (saddr . frontend . i) in @affinity for some i < N,
              goto sticky-T-i, else goto sticky-T-(random mod N);
      sticky-T-i: refresh (saddr . frontend . i) in @affinity (timeout T),
              dnat to (frontend . i) map @endpoints
  nat-postrouting (priority srcnat)
    masquerade marked packets; masquerade hairpin (DNATed saddr == daddr)

The constant index i inside a concatenation is written ``numgen inc mod 1
offset i``: nft 1.0.6 cannot parse a literal against the numgen key type,
but this expression always evaluates to i. The ``local`` variants use
@local-endpoints (externalTrafficPolicy Local, clients from outside).
"""

from __future__ import annotations

from podnet.proxy.model import Endpoint, Frontend, FrontendKind, Masquerade, ProxyPlan
from podnet.proxy.state import Chain, DesiredState, NftSet

FAMILY = "ip"
TABLE = "podnet-proxy"
MASQ_MARK = 0x4000
FE = "ip daddr . meta l4proto . th dport"
CLIENT_FE = "ip saddr . ip daddr . meta l4proto . th dport"
FE_TYPE = "ipv4_addr . inet_proto . inet_service"
PRECREATED = 32  # pick chains for 1..32 endpoints always exist (see _sets)


def index(i: int) -> str:
    """An expression of the numgen key type that always evaluates to ``i``."""
    return f"numgen inc mod 1 offset {i}"


def fe_key(fe: Frontend) -> str:
    return f"{fe.ip} . {fe.protocol} . {fe.port}"


def pick_chain(n: int, timeout: int | None, local: bool) -> str:
    suffix = "-local" if local else ""
    return f"pick{suffix}-{n}" if timeout is None else f"affinity{suffix}-{timeout}-{n}"


def _sets() -> dict[str, NftSet]:
    verdict_map = (f"type {FE_TYPE} : verdict",)
    # nft 1.0.6 cannot re-read this typeof from the kernel when a *later*
    # transaction adds a rule using the map ("conflicting protocols specified:
    # ip vs. th"); "tcp dport" instead would make nft add a TCP-only dependency.
    # So rules using these maps are only ever added by a full sync (see PRECREATED);
    # element updates are unaffected.
    ep_map = (f"typeof {FE} . numgen random mod 1 : ip daddr . th dport",)
    return {
        s.name: s
        for s in (
            NftSet("service-ips", "map", verdict_map),
            NftSet("dispatch", "map", verdict_map),
            NftSet("local-dispatch", "map", verdict_map),
            NftSet("endpoints", "map", ep_map),
            NftSet("local-endpoints", "map", ep_map),
            NftSet("no-endpoints", "map", verdict_map),
            NftSet("firewall-restricted", "set", (f"type {FE_TYPE}",)),
            NftSet("firewall-allow", "set", (f"type {FE_TYPE} . ipv4_addr", "flags interval")),
            NftSet("hairpin", "set", ("type ipv4_addr . ipv4_addr",)),
            NftSet("affinity", "set", (f"typeof {CLIENT_FE} . numgen random mod 1",
                                       "flags dynamic,timeout", "size 262144"), dynamic=True),
        )
    }


def _static_chains(pod_cidr: str, masq_mark: int) -> list[Chain]:
    mark = f"0x{masq_mark:x}"
    checks = ("ct state new jump service-checks",)
    return [
        Chain("filter-prerouting", checks, "type filter hook prerouting priority -110"),
        Chain("filter-output", checks, "type filter hook output priority -110"),
        Chain("nat-prerouting", ("jump services",), "type nat hook prerouting priority -100"),
        Chain("nat-output", ("jump services",), "type nat hook output priority -100"),
        Chain("nat-postrouting", (
            f"meta mark & {mark} == {mark} meta mark set meta mark ^ {mark} masquerade fully-random",
            "ct status dnat ip saddr . ip daddr @hairpin masquerade",
        ), "type nat hook postrouting priority 100"),
        Chain("service-checks", (
            f"{FE} @firewall-restricted {FE} . ip saddr != @firewall-allow drop",
            f"{FE} vmap @no-endpoints",
        )),
        Chain("reject-service", ("meta l4proto tcp reject with tcp reset", "reject")),
        Chain("mark-for-masquerade", (f"meta mark set meta mark | {mark}",)),
        Chain("services", (f"{FE} vmap @service-ips",)),
        Chain("external", ("jump mark-for-masquerade", f"{FE} vmap @dispatch")),
        Chain("external-local", (
            f"ip saddr {pod_cidr} {FE} vmap @dispatch",
            "fib saddr type local jump mark-for-masquerade",
            f"fib saddr type local {FE} vmap @dispatch",
            f"{FE} vmap @local-dispatch",
            "drop",
        )),
    ]


def _pick_chains(n: int, timeout: int | None, local: bool) -> list[Chain]:
    """The chains behind ``pick_chain(n, timeout, local)`` (sticky chains included)."""
    emap = "@local-endpoints" if local else "@endpoints"
    name = pick_chain(n, timeout, local)
    if timeout is None:
        return [Chain(name, (f"dnat to {FE} . numgen random mod {n} map {emap}",))]
    suffix = "-local" if local else ""
    sticky = [f"sticky{suffix}-{timeout}-{i}" for i in range(n)]
    rules = [f"{CLIENT_FE} . {index(i)} @affinity goto {sticky[i]}" for i in range(n)]
    choices = ", ".join(f"{i} : goto {sticky[i]}" for i in range(n))
    rules.append(f"numgen random mod {n} vmap {{ {choices} }}")
    chains = [Chain(name, tuple(rules))]
    for i in range(n):
        chains.append(Chain(sticky[i], (
            f"update @affinity {{ {CLIENT_FE} . {index(i)} timeout {timeout}s }}",
            f"dnat to {FE} . {index(i)} map {emap}",
        )))
    return chains


def cluster_ip_chain(pick: str) -> str:
    return f"cluster-ip-{pick}"


def _cluster_ip_chain(pick: str, pod_cidr: str) -> Chain:
    """A ClusterIP frontend's entry: masquerade non-pod sources, then pick an endpoint."""
    return Chain(cluster_ip_chain(pick), (f"ip saddr != {pod_cidr} jump mark-for-masquerade",
                                          f"goto {pick}"))


def _endpoint_elements(key: str, endpoints: tuple[Endpoint, ...]) -> dict[str, str | None]:
    return {f"{key} . {i}": f"{e.ip} . {e.port}" for i, e in enumerate(endpoints)}


Pick = tuple[int, int | None, bool]  # (endpoint count, affinity timeout, local variant)


def contribution(
    fe: Frontend, node: str | None = None
) -> tuple[dict[str, dict[str, str | None]], list[Pick]]:
    """The map/set elements one frontend owns, and the pick chains it jumps to.

    Every key is prefixed by the frontend, so frontends never share an element,
    except the hairpin set (keyed by endpoint IP), which callers reference-count.
    Only endpoints on ``node`` (or without a nodeName) enter the hairpin set: a
    pod can only reach itself through the proxy of its own node.
    """
    key = fe_key(fe)
    verdict = fe.when_empty
    if verdict is not None:
        value = "goto reject-service" if verdict == "reject" else "drop"
        return {"no-endpoints": {key: value}}, []
    el: dict[str, dict[str, str | None]] = {}
    picks: list[Pick] = [(len(fe.endpoints), fe.affinity_timeout, False)]
    if fe.kind is FrontendKind.CLUSTER_IP:
        el["service-ips"] = {key: f"goto {cluster_ip_chain(pick_chain(*picks[0]))}"}
    else:
        entry = "external-local" if fe.masquerade is Masquerade.LOCAL_SOURCE else "external"
        el["service-ips"] = {key: f"goto {entry}"}
        el["dispatch"] = {key: f"goto {pick_chain(*picks[0])}"}
    el["endpoints"] = _endpoint_elements(key, fe.endpoints)
    if fe.local_endpoints:
        picks.append((len(fe.local_endpoints), fe.affinity_timeout, True))
        el["local-dispatch"] = {key: f"goto {pick_chain(*picks[1])}"}
        el["local-endpoints"] = _endpoint_elements(key, fe.local_endpoints)
    if fe.source_ranges and fe.kind is FrontendKind.LOAD_BALANCER:
        el["firewall-restricted"] = {key: None}
        el["firewall-allow"] = {f"{key} . {cidr}": None for cidr in fe.source_ranges}
    local_ips = {e.ip for e in (*fe.endpoints, *(fe.local_endpoints or ()))
                 if node is None or e.node in ("", node)}
    el["hairpin"] = {f"{ip} . {ip}": None for ip in sorted(local_ips)}
    return el, picks


def sets() -> dict[str, NftSet]:
    """The table's sets and maps, without elements."""
    return _sets()


def chains(pod_cidr: str, picks: set[Pick], masq_mark: int = MASQ_MARK) -> dict[str, Chain]:
    """Every chain: the fixed ones plus those behind the pick variants in use."""
    out = _static_chains(pod_cidr, masq_mark)
    wanted = set(picks) | {(n, None, local) for n in range(1, PRECREATED + 1)
                           for local in (False, True)}
    for n, timeout, local in sorted(wanted, key=lambda p: (p[2], p[1] or 0, p[0])):
        out.extend(_pick_chains(n, timeout, local))
        if not local:
            out.append(_cluster_ip_chain(pick_chain(n, timeout, local), pod_cidr))
    return {c.name: c for c in out}


def build(plan: ProxyPlan, masq_mark: int = MASQ_MARK, table: str = TABLE) -> DesiredState:
    """The whole table for ``plan``; equal plans give equal states."""
    from podnet.proxy.assemble import Assembler

    asm = Assembler(plan.pod_cidr, masq_mark=masq_mark, table=table, node=plan.node)
    asm.set_service("", plan.frontends)
    return asm.state()
