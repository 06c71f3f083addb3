"""``podnet probe``: the live truth table, from every pod to every pod (root: it enters pod namespaces).

Output is the same as ``podnet analyze``: ``-o json`` the shared entries (plus
``targets``: which address each destination was probed at, its Service's
ClusterIP or its pod IP), ``-o table`` one ``.``/``X`` matrix per port/protocol.
``--compare`` adds the offline prediction over the same live objects, side by
side, lists every differing cell and exits 1 when there is one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Annotated, Any

import typer

from podnet.cli.connect import cluster_name, with_client


def register(app: typer.Typer) -> None:
    app.command("probe")(probe)


def probe(
    ports: Annotated[str | None, typer.Option("--ports", help="e.g. 80,81 or 8000-8002 (default: "
                                              "every declared containerPort).")] = None,
    protocols: Annotated[str | None, typer.Option("--protocols", help="e.g. TCP,UDP.")] = None,
    namespaces: Annotated[list[str] | None, typer.Option("--namespace", "-n",
                                                         help="Only pods of these namespaces.")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table|json")] = "table",
    compare: Annotated[bool, typer.Option("--compare", help="Put the offline prediction beside it; "
                                          "exit 1 on any difference.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per probe.")] = 1.0,
    attempts: Annotated[int, typer.Option("--attempts", help="Tries for a denied cell.")] = 1,
    cluster: Annotated[str | None, typer.Option("--cluster", envvar="PODNET_CLUSTER",
                                                help="Cluster name (default: podnet).")] = None,
) -> None:
    """Connect from every pod to every pod on every port/protocol (1 s timeout, in parallel)."""
    from podnet.policy.analyze import parse_ports, parse_protocols
    from podnet.policy.probe_cluster import fetch, probe_cluster

    if output not in ("table", "json"):
        raise typer.BadParameter(f"unknown output format {output!r}: use table or json")
    try:
        port_list, proto_list = parse_ports(ports), parse_protocols(protocols)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    if os.geteuid() != 0:
        typer.echo("error: podnet probe needs root (it opens sockets inside the pods' namespaces)",
                   err=True)
        raise typer.Exit(1)
    name = cluster_name(cluster)
    objects = with_client(name, fetch)
    report = asyncio.run(probe_cluster(name, objects, namespaces, port_list, proto_list, compare,
                                       timeout, attempts))
    if output == "json":
        _json(report)
    else:
        _table(report)
    if compare and report.diffs:
        raise typer.Exit(1)


def _json(report: Any) -> None:
    from podnet.policy.probe import ProbeResult

    live: ProbeResult = report.live
    doc: dict[str, Any] = {
        "entries": list(live.table.entries()),
        "targets": [{"to": pod, "port": port, "protocol": proto, "address": f"{t.ip}:{t.port}",
                     "via": t.via}
                    for (pod, port, proto), t in sorted(live.targets.items())
                    if pod in live.table.pods and (port, proto) in live.table.keys],
    }
    if report.offline is not None:
        doc["offline"] = list(report.offline.entries())
        doc["differences"] = [{"from": s, "to": d, "port": p, "protocol": proto, "live": a,
                               "offline": b} for s, d, p, proto, a, b in report.diffs]
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


def _table(report: Any) -> None:
    from podnet.policy.probe import describe_targets
    from podnet.policy.tablefmt import matrix, to_matrices

    live = report.live
    if report.offline is None:
        sys.stdout.write(to_matrices(live.table))
    else:
        for key in live.table.keys:
            left = matrix(live.table, key).splitlines()
            right = matrix(report.offline, key).splitlines() if key in report.offline.rows else []
            width = max(map(len, left))
            sys.stdout.write(f"{key[0]}/{key[1]} live".ljust(width) + "    offline\n")
            for i in range(max(len(left), len(right))):
                a = left[i] if i < len(left) else ""
                b = right[i] if i < len(right) else ""
                sys.stdout.write(f"{a.ljust(width)}    {b}\n".rstrip() + "\n")
            sys.stdout.write("\n")
    sys.stdout.write(f"\nprobed at ({live.seconds:.1f} s):\n{describe_targets(live)}\n")
    if report.offline is not None:
        if report.diffs:
            sys.stdout.write(f"\n{len(report.diffs)} difference(s):\n")
            for s, d, p, proto, a, b in report.diffs:
                sys.stdout.write(f"  {s} -> {d} {p}/{proto}: live {'allowed' if a else 'denied'}, "
                                 f"offline {'allowed' if b else 'denied'}\n")
        else:
            sys.stdout.write("\nlive and offline agree on every cell\n")
