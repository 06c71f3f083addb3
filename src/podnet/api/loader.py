"""Loading Kubernetes manifests: files, directories, stdin, multi-document YAML,
JSON, and ``kind: List`` dumps (``kubectl get -o yaml``).

Every object comes back as a ``Document`` that remembers its file, document
index and the line it starts on, so errors can point at it. Objects keep all
their fields (status, managedFields, unknown fields) as plain JSON values:
timestamps stay strings and mapping keys are strings, as Kubernetes' own YAML
decoder does. Kinds podnet does not serve are set aside in ``skipped`` with
one summary warning; a missing kind/apiVersion or a wrong apiVersion for a
served kind, unreadable files and YAML syntax errors raise ``InvalidInput``
listing every such problem of all inputs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from podnet.api.errors import InvalidInput, ObjectError, describe
from podnet.api.kinds import BY_KIND, Obj
from podnet.api.validation import FieldError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """Safe YAML with Kubernetes' JSON view: timestamps stay strings, keys are strings."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        if all(isinstance(k, str) for k in mapping):
            return mapping  # type: ignore[no-any-return]
        return {_json_key(k): v for k, v in mapping.items()}


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _json_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


@dataclass
class Document:
    """One object of the input and where it came from."""

    obj: Obj
    source: str
    index: int
    line: int


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    skipped: list[Document] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _builtin_group(api_version: str) -> bool:
    """Kubernetes' own API groups ("" core, "apps", "*.k8s.io"), not a CRD's group."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


class _Collector:
    """Sorts loaded objects into documents, skipped and problems."""

    def __init__(self) -> None:
        self.result = LoadResult()
        self.problems: list[ObjectError | str] = []

    def add(self, obj: Any, source: str, index: int, line: int, item_lines: list[int]) -> None:
        if obj is None:
            return
        where = f"{source}: document {index + 1} (line {line})"
        if not isinstance(obj, dict):
            self.problems.append(f"{where}: expected a Kubernetes object (a mapping), "
                                 f"found {type(obj).__name__}")
            return
        kind, items = obj.get("kind"), obj.get("items")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
            api_version = obj.get("apiVersion")
            for i, item in enumerate(items):
                if isinstance(item, dict) and kind != "List":
                    item.setdefault("kind", kind.removesuffix("List"))
                    item.setdefault("apiVersion", api_version)
                item_line = item_lines[i] if i < len(item_lines) else line
                self.add(item, source, index, item_line, [])
            return
        doc = Document(obj, source, index, line)
        errors: list[FieldError] = []
        api_version = obj.get("apiVersion")
        if not isinstance(kind, str) or not kind:
            errors.append(FieldError("kind", "Required value"))
        if not isinstance(api_version, str) or not api_version:
            errors.append(FieldError("apiVersion", "Required value"))
        if errors:
            self.problems.append(ObjectError(source, index, line, describe(obj), errors))
            return
        info = BY_KIND.get(str(kind))
        if info is not None and api_version != info.api_version:
            if _builtin_group(str(api_version)):
                self.problems.append(ObjectError(source, index, line, describe(obj), [
                    FieldError("apiVersion", "Unsupported value",
                               f'supported values: "{info.api_version}"', api_version)]))
                return
            info = None  # a custom resource that shares a built-in kind's name
        if info is None:
            self.result.skipped.append(doc)
        else:
            self.result.documents.append(doc)

    def parse(self, text: str, source: str) -> None:
        loader = _Loader(text)
        index = 0
        try:
            while loader.check_node():
                node = loader.get_node()
                line = node.start_mark.line + 1
                item_lines = _item_lines(node)
                self.add(loader.construct_document(node), source, index, line, item_lines)
                index += 1
        except yaml.MarkedYAMLError as exc:
            self.problems.append(_syntax_error(exc, source, index))
        except yaml.YAMLError as exc:
            self.problems.append(f"{source}: document {index + 1}: {exc}")
        finally:
            loader.dispose()

    def finish(self) -> LoadResult:
        skipped = self.result.skipped
        if skipped:
            names = ", ".join(describe(d.obj) for d in skipped[:10])
            more = f", ... ({len(skipped) - 10} more)" if len(skipped) > 10 else ""
            noun = "object" if len(skipped) == 1 else "objects"
            self.result.warnings.append(
                f"warning: skipped {len(skipped)} {noun} of unsupported kinds: {names}{more}")
        if self.problems:
            raise InvalidInput(self.problems)
        return self.result


def _item_lines(node: yaml.Node) -> list[int]:
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
            return [n.start_mark.line + 1 for n in value.value]
    return []


def _syntax_error(exc: yaml.MarkedYAMLError, source: str, index: int) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    msg = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem and exc.context_mark:
        msg += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return f"{source}: document {index + 1}: YAML syntax error{where}: {msg}"


def load_text(text: str, source: str) -> LoadResult:
    """Load the objects of one YAML or JSON text; ``source`` names it in messages."""
    collector = _Collector()
    _parse_any(collector, text, source)
    return collector.finish()


def _parse_any(collector: _Collector, text: str, source: str) -> None:
    before = len(collector.problems)
    collector.parse(text, source)
    if len(collector.problems) > before and source.endswith(".json"):
        try:  # JSON that YAML rejects (e.g. tab indentation): no line numbers then
            data = json.loads(text)
        except ValueError:
            return
        del collector.problems[before:]
        collector.add(data, source, 0, 1, [])


def _manifest_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*")
                  if p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file())


def load_paths(paths: Sequence[str], stdin: TextIO | None = None) -> LoadResult:
    """Load files, directories (recursively: *.yaml, *.yml, *.json, sorted) and ``-`` (stdin)."""
    collector = _Collector()
    for raw in paths:
        if raw == "-":
            _parse_any(collector, (stdin or sys.stdin).read(), "<stdin>")
            continue
        path = Path(raw)
        if path.is_dir():
            files = _manifest_files(path)
            if not files:
                collector.result.warnings.append(
                    f'warning: no *.yaml, *.yml or *.json files in directory "{raw}"')
        elif path.exists():
            files = [path]
        else:
            collector.problems.append(f'the path "{raw}" does not exist')
            continue
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                collector.problems.append(f"{file}: cannot read: {exc}")
                continue
            _parse_any(collector, text, str(file))
    return collector.finish()
