"""The kubectl-like verbs (apply, delete, get, label, annotate, describe) as calls
on the API client, rendered by ``podnet.cli.output``."""

from __future__ import annotations

import sys
from typing import Any

from podnet.api.kinds import Kind, Obj, UnknownKind, lookup
from podnet.cli import output
from podnet.cli.connect import with_client


class CliError(Exception):
    """An error already phrased for the user; exit code 1."""


def _kind(name: str) -> Kind:
    try:
        return lookup(name)
    except UnknownKind:
        raise CliError(f'error: the server doesn\'t have a resource type "{name}"') from None


def _ns(kind: Kind, namespace: str | None) -> str:
    return (namespace or "default") if kind.namespaced else ""


def _load(files: list[str]) -> list[Obj]:
    from podnet.api.errors import InvalidInput, check_documents
    from podnet.api.loader import load_paths

    try:
        result = load_paths(files, stdin=sys.stdin)
        for w in result.warnings:
            print(w, file=sys.stderr)
        return check_documents(result.documents)
    except InvalidInput as e:
        raise CliError(str(e)) from None


def apply(cluster: str, files: list[str]) -> None:
    from podnet.apiserver.apply import ApplyFailed, apply_all

    objs = _load(files)

    async def run(client: Any) -> list[str]:
        return await apply_all(client, objs)

    try:
        lines = with_client(cluster, run)
    except ApplyFailed as e:
        raise CliError(f"{e}\nnothing was applied") from None
    for line in lines:
        print(line)


def _delete(cluster: str, targets: list[tuple[Kind, str, str]], ignore_not_found: bool) -> None:
    from podnet.store.base import NotFound, StoreError

    async def run(client: Any) -> list[str]:
        errors: list[str] = []
        for kind, ns, name in targets:
            try:
                await client.delete(kind.plural, ns, name)
                print(f'{kind.singular}{"." + kind.group if kind.group else ""} "{name}" deleted')
            except NotFound as e:
                if not ignore_not_found:
                    errors.append(f"Error from server (NotFound): {e}")
            except StoreError as e:
                errors.append(f"Error from server ({type(e).__name__}): {e}")
        return errors

    errors = with_client(cluster, run)
    if errors:
        raise CliError("\n".join(errors))


def delete_files(cluster: str, files: list[str], ignore_not_found: bool) -> None:
    from podnet.api.kinds import kind_of, name_of, namespace_of

    objs = _load(files)
    _delete(cluster, [(kind_of(o), namespace_of(o), name_of(o)) for o in reversed(objs)],
            ignore_not_found)


def delete_names(
    cluster: str, kind: str, names: list[str], namespace: str | None, ignore_not_found: bool
) -> None:
    k = _kind(kind)
    _delete(cluster, [(k, _ns(k, namespace), n) for n in names], ignore_not_found)


def render(k: Kind, objs: list[Obj], fmt: str | None, single: bool, all_ns: bool, where: str) -> None:
    """Print objects in one of kubectl's formats."""
    if fmt == "json":
        print(output.to_json(output.with_type(k, objs[0]) if single else output.as_list(k, objs)))
    elif fmt == "yaml":
        print(output.to_yaml(output.with_type(k, objs[0]) if single else output.as_list(k, objs)), end="")
    elif fmt == "name":
        print(output.names(k, objs))
    elif not objs:
        print(f"No resources found{where}.", file=sys.stderr)
    else:
        print(output.table(k, objs, wide=fmt == "wide", all_namespaces=all_ns and k.namespaced))


def offline(files: list[str], kind: str, fmt: str | None) -> None:
    from podnet.api.errors import InvalidInput
    from podnet.offline import load

    k = _kind(kind)
    try:
        state = load(files)
    except InvalidInput as e:
        raise CliError(str(e)) from None
    for w in state.warnings:
        print(w, file=sys.stderr)
    render(k, list(state.objects.get(k.plural, [])), fmt, False, True, "")


def get(
    cluster: str, kind: str, name: str | None, namespace: str | None, all_namespaces: bool,
    selector: str | None, fmt: str | None,
) -> None:
    """``get KIND[,KIND...] [NAME]``: one table per kind, like kubectl."""
    from podnet.api.selectors import SelectorError, parse
    from podnet.store.base import NotFound

    kinds = [_kind(k) for k in kind.split(",") if k]
    if name and len(kinds) > 1:
        raise CliError("error: a name can only be given with a single kind")
    try:
        sel = parse(selector) if selector else None
    except SelectorError as e:
        raise CliError(f"error: {e}") from None

    def scope(k: Kind) -> str | None:
        return None if (all_namespaces or not k.namespaced) else (namespace or "default")

    async def run(client: Any) -> list[list[Obj]]:
        if name:
            return [[await client.get(kinds[0].plural, scope(kinds[0]) or "", name)]]
        return [list((await client.list(k.plural, scope(k), sel))[0]) for k in kinds]

    try:
        results = with_client(cluster, run)
    except NotFound:
        raise CliError(f'Error from server (NotFound): {kinds[0].plural} "{name}" not found') from None
    if len(kinds) > 1 and fmt in ("json", "yaml"):
        items = [output.with_type(k, o) for k, objs in zip(kinds, results, strict=True) for o in objs]
        doc = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}
        text = output.to_json(doc) + "\n" if fmt == "json" else output.to_yaml(doc)
        print(text, end="")
        return
    shown = 0
    for k, objs in zip(kinds, results, strict=True):
        if len(kinds) > 1 and not objs:
            continue
        if shown and fmt not in ("name",):
            print()
        ns = scope(k)
        render(k, objs, fmt, bool(name), all_namespaces, f" in {ns} namespace" if ns else "")
        shown += 1
    if len(kinds) > 1 and not shown:
        ns = namespace or "default"
        print(f"No resources found{'' if all_namespaces else f' in {ns} namespace'}.", file=sys.stderr)


def parse_meta_pairs(pairs: list[str]) -> tuple[dict[str, str], list[str]]:
    """``k=v`` to set and ``k-`` to remove, as kubectl label/annotate take them."""
    sets: dict[str, str] = {}
    removes: list[str] = []
    for p in pairs:
        if "=" in p:
            key, _, val = p.partition("=")
            sets[key] = val
        elif p.endswith("-"):
            removes.append(p[:-1])
        else:
            raise CliError(f"error: invalid {p!r}: expected key=value or key-")
    return sets, removes


def set_meta(
    cluster: str, field: str, kind: str, name: str, namespace: str | None, pairs: list[str],
    overwrite: bool,
) -> None:
    from podnet.apiserver.errors import Invalid
    from podnet.store.base import NotFound

    k = _kind(kind)
    sets, removes = parse_meta_pairs(pairs)

    async def run(client: Any) -> None:
        obj = await client.get(k.plural, _ns(k, namespace), name)
        current = (obj.get("metadata") or {}).get(field) or {}
        clash = [key for key, v in sets.items() if key in current and current[key] != v]
        if clash and not overwrite:
            raise CliError(
                f"error: '{clash[0]}' already has a value ({current[clash[0]]}), "
                "and --overwrite is false"
            )
        patch: dict[str, Any] = {key: v for key, v in sets.items()}
        patch.update({key: None for key in removes})
        await client.patch(k.plural, _ns(k, namespace), name, {"metadata": {field: patch}})

    try:
        with_client(cluster, run)
    except NotFound:
        raise CliError(f'Error from server (NotFound): {k.plural} "{name}" not found') from None
    except Invalid as e:
        raise CliError(f"error: {e}") from None
    print(f'{k.singular}/{name} {"labeled" if field == "labels" else "annotated"}')


def describe(cluster: str, kind: str, name: str, namespace: str | None) -> None:
    from podnet.api.selectors import parse
    from podnet.cli.describe import describe_pod, describe_service
    from podnet.store.base import NotFound

    k = _kind(kind)
    if k.plural not in ("pods", "services"):
        raise CliError(f"error: describe supports pods and services, not {k.plural}")
    ns = _ns(k, namespace)

    async def run(client: Any) -> str:
        obj = await client.get(k.plural, ns, name)
        if k.plural == "pods":
            return describe_pod(obj)
        slices, _ = await client.list(
            "endpointslices", ns, parse(f"kubernetes.io/service-name={name}"))
        return describe_service(obj, slices)

    try:
        print(with_client(cluster, run))
    except NotFound:
        raise CliError(f'Error from server (NotFound): {k.plural} "{name}" not found') from None
