"""The plugins' start-up-lean helpers behave exactly like the stdlib they replace:
``cni.jsonio`` like ``json``, ``kernel.routes`` address parsing like ``ipaddress``."""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podnet.cni import jsonio
from podnet.kernel.routes import format_ip, host_bits, parse_cidr, parse_ip

VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                      lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=20)


def _outcome(fn: object, arg: object) -> tuple[str, ...]:
    try:
        return ("ok", json.dumps(fn(arg)))  # type: ignore[operator]
    except ValueError as e:
        return ("err", type(e).__name__, str(e))


@settings(max_examples=100)
@given(VALUES)
def test_dumps_and_loads_match_json(v: object) -> None:
    assert jsonio.dumps(v) == json.dumps(v)
    assert json.dumps(jsonio.loads(json.dumps(v).encode())) == json.dumps(json.loads(json.dumps(v)))


@settings(max_examples=150)
@given(st.text(alphabet=' \t\n\r{}[]":,0123456789.eE-+tfnaulrsNI\\x', max_size=30))
def test_malformed_input_fails_like_json(s: str) -> None:
    assert _outcome(jsonio.loads, s) == _outcome(json.loads, s)
    assert _outcome(jsonio.loads, s.encode()) == _outcome(json.loads, s.encode())


WORDS = st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0x10]) | st.integers(0, 0xFFFF), min_size=8, max_size=8)


@settings(max_examples=150)
@given(WORDS)
def test_ipv6_formatting_matches_ipaddress(words: list[int]) -> None:
    packed = b"".join(w.to_bytes(2, "big") for w in words)
    assert format_ip(packed) == str(ipaddress.ip_address(packed))
    assert parse_ip(format_ip(packed)) == (10, packed)
    assert parse_ip(ipaddress.ip_address(packed).exploded) == (10, packed)


@settings(max_examples=150)
@given(st.binary(min_size=4, max_size=4), st.integers(0, 32))
def test_ipv4_cidrs_match_ipaddress(raw: bytes, prefix: int) -> None:
    text = f"{ipaddress.ip_address(raw)}/{prefix}"
    iface = ipaddress.ip_interface(text)
    assert format_ip(raw) == str(ipaddress.ip_address(raw))
    assert parse_cidr(text) == (2, iface.ip.packed, prefix)
    assert host_bits(raw, prefix, True) == iface.network.broadcast_address.packed
    assert host_bits(raw, prefix, False) == iface.network.network_address.packed


@pytest.mark.parametrize("bad", ["10.1.0.5/33", "10.1.0.5/", "nonsense", "1.2.3.04", "::g"])
def test_bad_cidrs_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_cidr(bad)


def test_netmask_and_scoped_forms() -> None:
    assert parse_cidr("10.1.0.5/255.255.255.0") == (2, bytes([10, 1, 0, 5]), 24)
    assert parse_cidr("fe80::1%eth0/64")[2] == 64
