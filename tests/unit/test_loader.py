"""Loading manifests: files, directories, stdin, JSON, List dumps, line numbers, errors."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import yaml

from podnet.api.errors import InvalidInput, ObjectError
from podnet.api.loader import load_paths, load_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "manifests"


def test_multi_document_lines_and_indexes() -> None:
    text = (
        "# leading comment\n"           # 1
        "apiVersion: v1\n"              # 2
        "kind: ConfigMap\n"             # 3
        "metadata: {name: a}\n"         # 4
        "---\n"                         # 5
        "---\n"                         # 6  (empty document: skipped, still counted)
        "# another\n"                   # 7
        "apiVersion: v1\n"              # 8
        "kind: Secret\n"                # 9
        "metadata: {name: b}\n"         # 10
        "...\n"
    )
    result = load_text(text, "m.yaml")
    assert [(d.obj["kind"], d.source, d.index, d.line) for d in result.documents] == [
        ("ConfigMap", "m.yaml", 0, 2), ("Secret", "m.yaml", 2, 8)]
    assert result.skipped == [] and result.warnings == []


def test_list_dump_flattens_items_with_their_lines_and_warns_once() -> None:
    path = FIXTURES / "dump" / "cluster-dump.yaml"
    result = load_paths([str(path)])
    lines = path.read_text().splitlines()
    for doc in result.documents + result.skipped:
        assert doc.index == 0
        # each item's line is inside that item: the line holds one of its top-level keys
        assert lines[doc.line - 1].startswith("- ")
    assert [d.obj["kind"] for d in result.documents] == [
        "Namespace", "ConfigMap", "Service", "Service", "EndpointSlice", "Deployment",
        "ReplicaSet", "Pod", "Node"]
    assert result.warnings == [
        "warning: skipped 4 objects of unsupported kinds: ServiceAccount demo/default, "
        "ServiceAccount demo/web, Role demo/web-reader, PodDisruptionBudget demo/web"]
    pod = next(d.obj for d in result.documents if d.obj["kind"] == "Pod")
    assert pod["status"]["podIP"] == "10.244.1.5"
    assert pod["metadata"]["creationTimestamp"] == "2024-05-02T09:15:40Z"  # a string, not a date
    svc = next(d.obj for d in result.documents if d.obj["metadata"]["name"] == "web"
               and d.obj["kind"] == "Service")
    assert svc["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:ports"][
        'k:{"port":80,"protocol":"TCP"}'] == {".": {}, "f:name": {}, "f:port": {},
                                             "f:protocol": {}, "f:targetPort": {}}


def test_typed_list_items_inherit_kind_and_api_version() -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "ServiceList", "metadata": {},
                       "items": [{"metadata": {"name": "a"}, "spec": {"ports": [{"port": 1}]}}]})
    [doc] = load_text(text, "svc.json").documents
    assert doc.obj["kind"] == "Service" and doc.obj["apiVersion"] == "v1"


def test_unknown_fields_round_trip() -> None:
    obj = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "x", "labels": {"a": "b"}, "x-unknown": [1, {"deep": None}]},
           "spec": {"ports": [{"port": 80, "futureField": {"k": True}}], "newThing": "yes"},
           "status": {"conditions": [{"type": "Ready", "lastTransitionTime": "2024-01-01"}]},
           "topLevelExtra": 1.5}
    for text in (yaml.safe_dump(obj), json.dumps(obj, indent=2)):
        [doc] = load_text(text, "x.yaml").documents
        assert doc.obj == obj


def test_yaml_scalars_become_json_values() -> None:
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
            "  annotations: {when: 2024-01-01, t: 2001-12-14t21:59:43.10-05:00}\n"
            "data:\n  80: x\n  true: y\n")
    [doc] = load_text(text, "c.yaml").documents
    assert doc.obj["metadata"]["annotations"] == {"when": "2024-01-01",
                                                  "t": "2001-12-14t21:59:43.10-05:00"}
    assert doc.obj["data"] == {"80": "x", "true": "y"}


def test_directories_are_recursive_sorted_and_filtered(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "b" / "deep" / "c.yml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    (tmp_path / "b" / "b.json").write_text(
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}')
    (tmp_path / "b" / "notes.txt").write_text("kind: nonsense: [")
    result = load_paths([str(tmp_path)])
    assert [(Path(d.source).name, d.obj["metadata"]["name"]) for d in result.documents] == [
        ("a.yaml", "a"), ("b.json", "b"), ("c.yml", "c")]


def test_fixture_directory_with_json_and_nested_dirs() -> None:
    result = load_paths([str(FIXTURES / "good")])
    sources = {os.path.relpath(d.source, FIXTURES / "good") for d in result.documents}
    assert sources == {"app.yaml", "nested/agent.yml", "nested/dns.json"}
    dns = next(d for d in result.documents if d.source.endswith("dns.json"))
    assert (dns.line, dns.obj["spec"]["clusterIP"]) == (1, "10.96.0.10")


def test_stdin_and_files_together(tmp_path: Path) -> None:
    f = tmp_path / "one.yaml"
    f.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: one}\n")
    stdin = io.StringIO("\n\napiVersion: v1\nkind: Namespace\nmetadata: {name: two}\n")
    result = load_paths([str(f), "-"], stdin=stdin)
    assert [(d.source, d.line, d.obj["metadata"]["name"]) for d in result.documents] == [
        (str(f), 1, "one"), ("<stdin>", 3, "two")]


def test_json_with_tabs_still_loads() -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t"}},
                      indent="\t")
    [doc] = load_text(text, "t.json").documents
    assert doc.obj["metadata"]["name"] == "t"


def test_missing_kind_and_api_version_are_errors_naming_file_document_line() -> None:
    path = FIXTURES / "bad" / "missing-kind.yaml"
    with pytest.raises(InvalidInput) as info:
        load_paths([str(path)])
    assert str(info.value) == (
        f"{path}: document 2 (line 6): object orphan is invalid:\n"
        "  * kind: Required value\n"
        f"{path}: document 3 (line 11): Service noversion is invalid:\n"
        "  * apiVersion: Required value")
    first = info.value.problems[0]
    assert isinstance(first, ObjectError) and (first.index, first.line) == (1, 6)


def test_old_api_versions_are_errors_but_custom_resources_are_skipped() -> None:
    path = FIXTURES / "bad" / "old-apiversions.yaml"
    with pytest.raises(InvalidInput) as info:
        load_paths([str(path)])
    assert str(info.value) == (
        f"{path}: document 1 (line 1): Deployment legacy is invalid:\n"
        '  * apiVersion: Unsupported value: "apps/v1beta1": supported values: "apps/v1"\n'
        f"{path}: document 2 (line 6): Ingress legacy is invalid:\n"
        '  * apiVersion: Unsupported value: "extensions/v1beta1": supported values: '
        '"networking.k8s.io/v1"')
    knative = load_text("apiVersion: serving.knative.dev/v1\nkind: Service\n"
                        "metadata: {name: hello}\n", "k.yaml")
    assert knative.documents == [] and len(knative.skipped) == 1
    assert knative.warnings == ["warning: skipped 1 object of unsupported kinds: Service hello"]


def test_syntax_error_names_file_document_and_position() -> None:
    path = FIXTURES / "bad" / "syntax-error.yaml"
    with pytest.raises(InvalidInput) as info:
        load_paths([str(path)])
    text = str(info.value)
    assert text.startswith(f"{path}: document 2: YAML syntax error at line 10, column 10: ")
    assert "mapping values are not allowed" in text


def test_all_input_problems_are_collected(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(InvalidInput) as info:
        load_paths([str(tmp_path / "missing.yaml"), str(tmp_path / "list.yaml"),
                    str(FIXTURES / "bad" / "syntax-error.yaml")])
    problems = [str(p) for p in info.value.problems]
    assert problems[0] == f'the path "{tmp_path / "missing.yaml"}" does not exist'
    assert problems[1] == (f"{tmp_path / 'list.yaml'}: document 1 (line 1): expected a "
                           "Kubernetes object (a mapping), found list")
    assert "YAML syntax error" in problems[2]


def test_many_skipped_kinds_are_summarised_on_one_line() -> None:
    items = [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": f"sa{i}"}}
             for i in range(12)]
    result = load_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}),
                       "l.yaml")
    assert len(result.skipped) == 12
    assert result.warnings == [
        "warning: skipped 12 objects of unsupported kinds: "
        + ", ".join(f"ServiceAccount sa{i}" for i in range(10)) + ", ... (2 more)"]
