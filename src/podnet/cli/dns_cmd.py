"""``podnet dns``: resolve a name the way a pod of a namespace would.

Offline (``-f PATH...``): the manifests go through the offline pipeline
(``podnet.offline.load``: ClusterIPs, pods, EndpointSlices as the controllers
would make them), the DNS zone is built from the result and every query of the
pod's search path is answered by ``podnet.dns.answer``. Live (``--cluster``,
the default): every query is a real UDP datagram (TCP after truncation) sent to
the ``kube-dns`` ClusterIP from a socket opened inside a node's network
namespace, so it crosses the node's service proxy and reaches a DNS pod.

The search path and ``ndots:5`` are a ClusterFirst pod's (``podnet.dns.resolve``).
Exit status follows ``host``, not ``dig``: 0 when the final answer is NOERROR
(records or NODATA), 1 on NXDOMAIN, SERVFAIL, REFUSED or no answer at all.
"""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import dnslib
import typer

from podnet.cli.connect import cluster_name
from podnet.cli.resources import CliError
from podnet.dns.resolve import Ask, MakeSocket, Resolution, resolve


def register(app: typer.Typer) -> None:
    app.command("dns")(dns)


def dns(
    name: Annotated[str, typer.Argument(help="Name to resolve (short, partial or full; a trailing "
                                             "dot stops the search path; an IP asks PTR).")],
    qtype: Annotated[str, typer.Argument(metavar="[TYPE]", help="A (default), AAAA, SRV, PTR, TXT...")] = "A",
    namespace: Annotated[str | None, typer.Option("--namespace", "-n",
                                                  help="Resolve as a pod of this namespace.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="json")] = None,
    files: Annotated[list[str] | None, typer.Option("--filename", "-f",
                                                    help="Offline: resolve over these manifests.")] = None,
    node: Annotated[str | None, typer.Option(
        "--node", help="Live: send from this node (default: the first).")] = None,
    server: Annotated[str | None, typer.Option(
        "--server", help="Live: DNS server IP (default: kube-dns).")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", envvar="PODNET_CLUSTER",
                                                help="Cluster name (default: podnet).")] = None,
) -> None:
    """Resolve NAME as a pod in NS would (search path, ndots:5): live, or offline with -f."""
    qtype = qtype.upper()
    if qtype not in dnslib.QTYPE.reverse:
        raise typer.BadParameter(f"unknown record type {qtype!r}: use A, AAAA, SRV, PTR, TXT...")
    if output not in (None, "json"):
        raise typer.BadParameter(f"unknown output format {output!r}: use json")
    name, qtype = _reverse_name(name, qtype)
    ns = namespace or "default"
    if files:
        ask, domain = _offline(files)
    else:
        ask, domain = _live(cluster_name(cluster), node, server)
    try:
        res = resolve(ask, name, qtype, ns, domain)
    except OSError as e:
        raise CliError(f"error: {e}") from None
    _print(res, output)
    if res.answer.rcode != "NOERROR":
        raise typer.Exit(1)


def _reverse_name(name: str, qtype: str) -> tuple[str, str]:
    """``podnet dns 10.96.0.10`` asks the PTR of that address, as ``host`` does."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return name, qtype
    return ip.reverse_pointer + ".", "PTR"


def _print(res: Resolution, output: str | None) -> None:
    if output == "json":
        typer.echo(json.dumps(res.to_json(), indent=2))
        return
    for qname, rcode in res.tried:
        typer.echo(f";; tried {qname}: {rcode}")
    for line in res.answer.lines():
        typer.echo(line)


def _offline(files: list[str]) -> tuple[Ask, str]:
    from podnet.api.errors import InvalidInput
    from podnet.dns.resolve import zone_asker
    from podnet.dns.zone import Zone
    from podnet.offline import load

    try:
        state = load(files)
    except (InvalidInput, OSError) as e:
        raise CliError(str(e)) from None
    from podnet.cluster.addons import NAMESPACE, SERVICE, dns_service

    zone = Zone(domain=state.config.dns_domain)
    objs = [*state.namespaces, *state.services, *state.endpoint_slices, *state.pods]
    if state.get("Service", NAMESPACE, SERVICE) is None:
        objs.append(dns_service(state.config))  # what `podnet up` adds to every cluster
    zone.load(objs)
    return zone_asker(zone), zone.domain


def _live(cluster: str, node: str | None, server: str | None) -> tuple[Ask, str]:
    from podnet.api.config import ClusterConfig
    from podnet.cluster import state
    from podnet.cluster.topology import netns_prefix
    from podnet.dns.resolve import server_asker
    from podnet.kernel import netns

    rec = state.load(cluster)
    if rec is None:
        raise CliError(f"error: cluster {cluster!r} does not exist (create it with `podnet up`, "
                       "or resolve offline with -f PATH)")
    config: ClusterConfig = rec.config
    node_name = node or (config.nodes[0].name if config.nodes else "node-1")
    target = netns_prefix(cluster) + node_name
    if not netns.exists(target):
        raise CliError(f"error: namespace {target} does not exist (is cluster {cluster!r} up?)")
    make = _socket_maker(target)
    ask = server_asker(server or config.dns_service_ip, 53, timeout=5.0, attempts=2,
                       make_socket=make)
    return ask, config.dns_domain


def _socket_maker(target: str) -> MakeSocket:
    """Sockets created inside the network namespace ``target`` (they stay bound to it)."""
    from podnet.kernel import netns

    def inside(family: int, kind: int) -> socket.socket:
        with netns.entered(target):
            return socket.socket(family, kind)

    def make(family: int, kind: int) -> socket.socket:
        with ThreadPoolExecutor(1) as ex:  # setns() on a throwaway thread, never on ours
            return ex.submit(inside, family, kind).result()

    return make
