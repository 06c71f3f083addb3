"""Label selector parsing and matching, string and object forms."""

import pytest

from podnet.api.selectors import (
    SelectorError,
    from_label_selector,
    from_match_labels,
    parse,
)


@pytest.mark.parametrize(
    ("text", "labels", "want"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app==web", {"app": "web"}, True),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("app in (web, db)", {"app": "db"}, True),
        ("app notin (web,db)", {"app": "db"}, False),
        ("app notin (web,db)", {}, True),
        ("tier", {"tier": ""}, True),
        ("!tier", {"tier": "x"}, False),
        ("!tier", {}, True),
        ("app=web,tier=api", {"app": "web", "tier": "api"}, True),
        ("app=web,tier=api", {"app": "web"}, False),
        ("example.com/role=x", {"example.com/role": "x"}, True),
        ("replicas>2", {"replicas": "3"}, True),
        ("replicas<2", {"replicas": "3"}, False),
        ("", {"anything": "x"}, True),
    ],
)
def test_parse_and_match(text: str, labels: dict[str, str], want: bool) -> None:
    assert parse(text).matches(labels) is want


@pytest.mark.parametrize("text", ["app=", "=web", "app in web", "app in (a", "a b", "-bad=x"])
def test_parse_errors(text: str) -> None:
    if text == "app=":
        # an empty value is valid: matches app="" only
        assert parse(text).matches({"app": ""})
        assert not parse(text).matches({"app": "x"})
        return
    with pytest.raises(SelectorError):
        parse(text)


def test_object_forms() -> None:
    assert not from_label_selector(None).matches({"a": "b"})
    assert from_label_selector({}).matches({"a": "b"})
    sel = from_label_selector(
        {"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "c", "operator": "Exists"}]}
    )
    assert sel.matches({"a": "b", "c": "1"})
    assert not sel.matches({"a": "b"})
    assert not from_match_labels({}).matches({"a": "b"})
    assert not from_match_labels(None).matches({})
    assert from_match_labels({"a": "b"}).matches({"a": "b", "x": "y"})


def test_round_trip_string() -> None:
    text = "a=b,c!=d,e in (x,y),f,!g"
    assert parse(str(parse(text))) == parse(text)


def test_bad_prefix_message_is_kubernetes_own() -> None:
    from podnet.api.selectors import label_key_errors

    assert label_key_errors("Bad_Prefix/x") == [
        "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
        r"for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]
