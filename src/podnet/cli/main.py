"""The ``podnet`` command: kubectl-like verbs plus cluster life-cycle verbs.

Commands parse arguments, call the library and render; they hold no logic of
their own. Exit codes: 0 ok, 1 error, 2 usage.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from podnet.cli import analyze_cmds, cluster_cmds, dns_cmd, probe_cmd, resources
from podnet.cli.connect import NotRunning, cluster_name

app = typer.Typer(
    name="podnet",
    help="Kubernetes networking, built for real on one Linux host.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ClusterOpt = Annotated[
    str | None,
    typer.Option("--cluster", envvar="PODNET_CLUSTER", help="Cluster name (default: podnet)."),
]
NsOpt = Annotated[str | None, typer.Option("--namespace", "-n", help="Namespace.")]
FilesOpt = Annotated[list[str], typer.Option("--filename", "-f", help="File, directory or - for stdin.")]


@app.command()
def apply(files: FilesOpt, cluster: ClusterOpt = None) -> None:
    """Create or update objects from YAML/JSON manifests (all or nothing)."""
    resources.apply(cluster_name(cluster), files)


@app.command()
def delete(
    kind: Annotated[str | None, typer.Argument(help="Kind, e.g. svc, pod, deploy.")] = None,
    names: Annotated[list[str] | None, typer.Argument(help="Object names.")] = None,
    files: Annotated[list[str] | None, typer.Option("--filename", "-f")] = None,
    namespace: NsOpt = None,
    ignore_not_found: Annotated[bool, typer.Option("--ignore-not-found")] = False,
    cluster: ClusterOpt = None,
) -> None:
    """Delete objects by file or by kind and name."""
    if files:
        resources.delete_files(cluster_name(cluster), files, ignore_not_found)
    elif kind and names:
        resources.delete_names(cluster_name(cluster), kind, names, namespace, ignore_not_found)
    else:
        raise typer.BadParameter("give -f PATH, or KIND NAME...")


@app.command()
def get(
    kind: Annotated[str, typer.Argument(help="Kind, e.g. pods, svc, endpointslices, netpol.")],
    name: Annotated[str | None, typer.Argument()] = None,
    namespace: NsOpt = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
    selector: Annotated[str | None, typer.Option("--selector", "-l")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="wide|yaml|json|name")] = None,
    cluster: ClusterOpt = None,
) -> None:
    """List or show objects, like kubectl get."""
    if output not in (None, "wide", "yaml", "json", "name"):
        raise typer.BadParameter(f"unknown output format {output!r}: use wide, yaml, json or name")
    resources.get(cluster_name(cluster), kind, name, namespace, all_namespaces, selector, output)


def _meta_command(field: str) -> Any:
    def command(
        kind: Annotated[str, typer.Argument()],
        name: Annotated[str, typer.Argument()],
        pairs: Annotated[list[str], typer.Argument(help="key=value to set, key- to remove.")],
        namespace: NsOpt = None,
        overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
        cluster: ClusterOpt = None,
    ) -> None:
        resources.set_meta(cluster_name(cluster), field, kind, name, namespace, pairs, overwrite)

    command.__doc__ = f"Add, change (--overwrite) or remove (key-) {field} of an object."
    return command


app.command("label")(_meta_command("labels"))
app.command("annotate")(_meta_command("annotations"))


@app.command()
def describe(
    kind: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument()],
    namespace: NsOpt = None,
    cluster: ClusterOpt = None,
) -> None:
    """Show a pod or a service in detail, with its endpoints."""
    resources.describe(cluster_name(cluster), kind, name, namespace)


@app.command()
def controlplane(
    cluster: ClusterOpt = None,
    store: Annotated[str | None, typer.Option(help="sqlite (default), memory:// or etcd://HOST:PORT")] = None,
    service_cidr: Annotated[str, typer.Option("--service-cidr")] = "10.96.0.0/12",
    pod_cidr: Annotated[str, typer.Option("--pod-cidr")] = "10.244.0.0/16",
    listen: Annotated[str | None, typer.Option(help="Also serve HTTPS on HOST:PORT.")] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token for the TCP listener.")] = None,
    node_grace: Annotated[float, typer.Option("--node-monitor-grace-period")] = 40.0,
) -> None:
    """Run the API server and the controllers in the foreground."""
    from podnet.cluster import controlplane as cp

    cp.run_foreground(
        cluster_name(cluster), store, service_cidr, pod_cidr, listen, token, node_grace
    )


@app.command()
def offline(
    files: FilesOpt,
    kind: Annotated[str, typer.Argument(help="Kind to show (default: pods).")] = "pods",
    output: Annotated[str | None, typer.Option("--output", "-o", help="wide|yaml|json|name")] = None,
) -> None:
    """Show what the controllers make of manifests, in-process: no server, no root."""
    resources.offline(files, kind, output)


@app.command("cni-path")
def cni_path() -> None:
    """Print the directory to use as CNI_PATH for podnet's plugins."""
    from podnet.cni.paths import cni_path as path

    typer.echo(path())


cluster_cmds.register(app)
analyze_cmds.register(app)
dns_cmd.register(app)
probe_cmd.register(app)


def main() -> None:
    """Entry point: run the app and map errors to exit codes (1 error, 2 usage)."""
    try:
        app(standalone_mode=True)
    except NotRunning as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except resources.CliError as e:
        print(str(e), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
