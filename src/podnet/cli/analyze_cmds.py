"""Offline and live questions: ``podnet analyze`` (truth table + lint) and ``podnet explain``."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from podnet.cli.connect import cluster_name, with_client
from podnet.cli.resources import CliError

FilesOpt = Annotated[list[str] | None, typer.Option("--filename", "-f", help="Manifests (offline).")]


def register(app: typer.Typer) -> None:
    app.command()(analyze)
    app.command()(explain)


def analyze(
    files: Annotated[list[str], typer.Option("--filename", "-f", help="Manifests or a kubectl dump.")],
    ports: Annotated[str | None, typer.Option("--ports", help="e.g. 80,81 (default: declared)")] = None,
    protocols: Annotated[str | None, typer.Option("--protocols", help="e.g. TCP,UDP")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Who can reach whom under the NetworkPolicies, offline: truth table and lint warnings."""
    from podnet.api.errors import InvalidInput
    from podnet.policy.analyze import analyze_paths, parse_ports, parse_protocols
    from podnet.policy.tablefmt import to_matrices, write_json

    if output not in ("table", "json"):
        raise typer.BadParameter("use -o table or -o json")
    try:
        result = analyze_paths(files, parse_ports(ports), parse_protocols(protocols))
    except InvalidInput as e:
        raise CliError(str(e)) from None
    except ValueError as e:
        raise CliError(f"error: {e}") from None
    for w in [*result.load_warnings, *(f"warning: {w}" for w in result.warnings)]:
        print(w, file=sys.stderr)
    if output == "json":
        write_json(result.table, sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(to_matrices(result.table))


def _live_objects(cluster: str) -> Any:
    from podnet.explain import Objects

    async def fetch(c: Any) -> Objects:
        lists = {}
        for r in ("pods", "services", "endpointslices", "nodes", "namespaces", "networkpolicies"):
            lists[r] = (await c.list(r))[0]
        return Objects(lists["pods"], lists["services"], lists["endpointslices"], lists["nodes"],
                       lists["namespaces"], lists["networkpolicies"])

    return with_client(cluster, fetch)


def explain(
    src: Annotated[str, typer.Argument(help="ns/pod, node/NAME, external or an IP")],
    dst: Annotated[str, typer.Argument(help="ns/pod-or-service[:PORT[/PROTO]] or IP[:PORT[/PROTO]]")],
    files: FilesOpt = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
    cluster: Annotated[str | None, typer.Option("--cluster", envvar="PODNET_CLUSTER")] = None,
) -> None:
    """Explain one connection: service rule, endpoints, DNAT/SNAT and the policy verdict."""
    from podnet.api.config import ClusterConfig
    from podnet.api.errors import InvalidInput
    from podnet.explain import Objects, explain_connection

    config = ClusterConfig()
    if files:
        from podnet.offline import load

        try:
            state = load(files)
        except InvalidInput as e:
            raise CliError(str(e)) from None
        config = state.config
        objs = Objects(state.pods, state.services, state.endpoint_slices, state.nodes,
                       state.namespaces, state.network_policies)
    else:
        from podnet.cluster import state as cluster_state

        name = cluster_name(cluster)
        rec = cluster_state.load(name)
        config = rec.config if rec else config
        objs = _live_objects(name)
    try:
        result = explain_connection(objs, config, src, dst)
    except ValueError as e:
        raise CliError(f"error: {e}") from None
    if output == "json":
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.text())
    if not result.allowed:
        raise typer.Exit(1)
