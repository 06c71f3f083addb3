"""host-local range logic: defaults, validation, round-robin order (pure)."""

from __future__ import annotations

import ipaddress

import pytest

from podnet.cni import errors
from podnet.cni.errors import CniError
from podnet.cni.hostlocal_ranges import (
    next_candidates,
    parse_range,
    parse_range_sets,
    parse_routes,
    requested_ips,
)

ip = ipaddress.ip_address


def test_defaults_v4_and_v6() -> None:
    r = parse_range({"subnet": "10.250.3.0/24"})
    assert (str(r.start), str(r.end), str(r.gateway)) == ("10.250.3.1", "10.250.3.254", "10.250.3.1")
    assert r.size() == 253
    r6 = parse_range({"subnet": "fd00:250::/120"})
    assert str(r6.start) == "fd00:250::1" and str(r6.end) == "fd00:250::ff"


@pytest.mark.parametrize("spec", [
    {"subnet": "10.250.3.0/31"}, {"subnet": "10.250.3.4/32"}, {}, {"subnet": "nonsense"},
    {"subnet": "10.250.3.0/24", "rangeStart": "10.250.4.1"},
    {"subnet": "10.250.3.0/24", "rangeStart": "10.250.3.9", "rangeEnd": "10.250.3.5"},
    {"subnet": "10.250.3.0/24", "rangeEnd": "10.250.3.255"},
])
def test_invalid_ranges_are_code_7(spec: dict[str, str]) -> None:
    with pytest.raises(CniError) as err:
        parse_range(spec)
    assert err.value.code == errors.INVALID_CONFIG


def test_range_sets_legacy_overlap_and_runtime_override() -> None:
    sets = parse_range_sets({"subnet": "10.250.5.0/24", "gateway": "10.250.5.254"}, {})
    assert len(sets) == 1 and str(sets[0][0].gateway) == "10.250.5.254"
    with pytest.raises(CniError):
        parse_range_sets({"ranges": [[{"subnet": "10.250.5.0/24"}], [{"subnet": "10.250.5.0/25"}]]},
                         {})
    with pytest.raises(CniError):
        parse_range_sets({}, {})
    over = parse_range_sets({"ranges": [[{"subnet": "10.250.5.0/24"}]]},
                            {"ipRanges": [[{"subnet": "10.250.6.0/24"}]]})
    assert str(over[0][0].subnet) == "10.250.6.0/24"


def test_round_robin_after_last_reserved_and_skips_gateway() -> None:
    ranges = [parse_range({"subnet": "10.250.7.0/29"}), parse_range({"subnet": "10.250.8.0/30"})]
    first = [str(x) for x in next_candidates(ranges, None)]
    assert first == ["10.250.7.2", "10.250.7.3", "10.250.7.4", "10.250.7.5", "10.250.7.6",
                     "10.250.8.2"]
    after = [str(x) for x in next_candidates(ranges, ip("10.250.7.5"))]
    assert after == ["10.250.7.6", "10.250.8.2", "10.250.7.2", "10.250.7.3", "10.250.7.4",
                     "10.250.7.5"]
    assert [str(x) for x in next_candidates(ranges, ip("192.0.2.1"))] == first


def test_routes_and_requested_ips() -> None:
    assert parse_routes({"routes": [{"dst": "0.0.0.0/0"}]}) == [{"dst": "0.0.0.0/0"}]
    with pytest.raises(CniError):
        parse_routes({"routes": [{"gw": "10.0.0.1"}]})
    assert requested_ips({"args": {"cni": {"ips": ["10.250.1.9/24"]}}}, {}) == [ip("10.250.1.9")]
    assert requested_ips({}, {"IP": "10.250.1.7"}) == [ip("10.250.1.7")]
