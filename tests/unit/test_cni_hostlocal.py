"""podnet-host-local and the skeleton, driven like a runtime drives them (env + stdin).

host-local touches only its dataDir, so none of this needs root.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from podnet.cni.paths import cni_path

EXE = os.path.join(cni_path(), "podnet-host-local")


def run(command: str | None, config: Any, cid: str = "c1", ifname: str = "eth0",
        raw: bytes | None = None, **env: str) -> tuple[int, Any]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
    if command is not None:
        full["CNI_COMMAND"] = command
    full.update(CNI_CONTAINERID=cid, CNI_NETNS="/run/netns/none", CNI_IFNAME=ifname,
                CNI_PATH=cni_path())
    full.update(env)
    data = raw if raw is not None else json.dumps(config).encode()
    proc = subprocess.run([EXE], input=data, capture_output=True, env=full, timeout=60)
    out = proc.stdout.decode()
    assert out.count("\n") <= 1, f"stdout must hold one JSON document: {out!r}"
    return proc.returncode, json.loads(out) if out.strip() else None


def conf(tmp_path: Path, version: str = "1.1.0", **ipam: Any) -> dict[str, Any]:
    section = {"type": "podnet-host-local", "dataDir": str(tmp_path),
               "ranges": [[{"subnet": "10.250.9.0/29"}]], "routes": [{"dst": "0.0.0.0/0"}]}
    section.update(ipam)
    return {"cniVersion": version, "name": "hl", "type": "podnet-bridge", "ipam": section}


def leases(tmp_path: Path) -> dict[str, str]:
    d = tmp_path / "hl"
    return {p.name: p.read_bytes().decode() for p in d.iterdir()
            if p.name != "lock" and not p.name.startswith("last_")} if d.exists() else {}


def test_version_reports_supported_versions() -> None:
    rc, out = run("VERSION", {"cniVersion": "1.0.0"})
    assert rc == 0 and out["cniVersion"] == "1.0.0"
    assert {"0.4.0", "1.0.0", "1.1.0"} <= set(out["supportedVersions"])
    rc, out = run("VERSION", None, raw=b"")
    assert rc == 0 and "1.1.0" in out["supportedVersions"]


def test_add_del_check_round_trip(tmp_path: Path) -> None:
    rc, out = run("ADD", conf(tmp_path))
    assert rc == 0, out
    assert out["cniVersion"] == "1.1.0"
    assert out["ips"] == [{"address": "10.250.9.2/29", "gateway": "10.250.9.1"}]
    assert out["routes"] == [{"dst": "0.0.0.0/0"}]
    assert leases(tmp_path) == {"10.250.9.2": "c1\r\neth0"}
    assert run("CHECK", conf(tmp_path))[0] == 0
    rc, out = run("ADD", conf(tmp_path), cid="c2")
    assert out["ips"][0]["address"] == "10.250.9.3/29"
    assert run("DEL", conf(tmp_path))[0] == 0
    assert run("DEL", conf(tmp_path)) == (0, None)  # idempotent
    assert list(leases(tmp_path)) == ["10.250.9.3"]
    rc, out = run("CHECK", conf(tmp_path))
    assert rc == 1 and out["code"] == 102
    # round-robin: the next ADD continues after .3, not at the freed .2
    assert run("ADD", conf(tmp_path), cid="c3")[1]["ips"][0]["address"] == "10.250.9.4/29"


def test_legacy_version_result(tmp_path: Path) -> None:
    rc, out = run("ADD", conf(tmp_path, "0.4.0"))
    assert rc == 0 and out["cniVersion"] == "0.4.0" and out["ips"][0]["version"] == "4"


def test_exhaustion_is_code_100_and_leaks_nothing(tmp_path: Path) -> None:
    two = conf(tmp_path, ranges=[[{"subnet": "10.250.9.0/29", "rangeStart": "10.250.9.2",
                                   "rangeEnd": "10.250.9.3"}],
                                 [{"subnet": "10.250.10.0/29", "rangeStart": "10.250.10.2",
                                   "rangeEnd": "10.250.10.4"}]])
    assert run("ADD", two, cid="a")[0] == 0
    assert run("ADD", two, cid="b")[0] == 0
    assert run("STATUS", two) == (1, run("STATUS", two)[1])
    assert run("STATUS", two)[1]["code"] == 50
    rc, out = run("ADD", two, cid="c")
    assert rc == 1 and out["code"] == 100 and out["cniVersion"] == "1.1.0"
    assert sorted(v.split("\r\n")[0] for v in leases(tmp_path).values()) == ["a", "a", "b", "b"]


def test_parallel_adds_never_share_an_address(tmp_path: Path) -> None:
    big = conf(tmp_path, ranges=[[{"subnet": "10.250.11.0/24"}]])
    with concurrent.futures.ThreadPoolExecutor(25) as pool:
        results = list(pool.map(lambda i: run("ADD", big, cid=f"p{i}"), range(50)))
    ips = [out["ips"][0]["address"] for rc, out in results if rc == 0]
    assert len(ips) == 50 and len(set(ips)) == 50
    assert len(leases(tmp_path)) == 50


def test_gc_keeps_only_valid_attachments(tmp_path: Path) -> None:
    for cid in ("g1", "g2", "g3"):
        assert run("ADD", conf(tmp_path), cid=cid)[0] == 0
    gc = dict(conf(tmp_path), **{"cni.dev/valid-attachments": [
        {"containerID": "g2", "ifname": "eth0"}]})
    assert run("GC", gc) == (0, None)
    assert [v.split("\r\n")[0] for v in leases(tmp_path).values()] == ["g2"]
    old_key = dict(conf(tmp_path), **{"cni.dev/attachments": []})
    assert run("GC", old_key)[0] == 0 and leases(tmp_path) == {}


def test_busy_store_is_code_11(tmp_path: Path) -> None:
    os.makedirs(tmp_path / "hl")
    with open(tmp_path / "hl" / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rc, out = run("ADD", conf(tmp_path, lockTimeout=0.1))
    assert rc == 1 and out["code"] == 11 and leases(tmp_path) == {}


@pytest.mark.parametrize(("command", "config", "env", "code"), [
    ("ADD", {"cniVersion": "9.9.9", "name": "hl"}, {}, 1),
    ("CHECK", {"cniVersion": "0.3.1", "name": "hl"}, {}, 1),  # CHECK needs >= 0.4.0
    ("GC", {"cniVersion": "1.0.0", "name": "hl"}, {}, 1),
    ("ADD", {"name": "hl"}, {}, 1),
    (None, {"cniVersion": "1.1.0"}, {}, 4),
    ("FROB", {"cniVersion": "1.1.0"}, {}, 4),
    ("ADD", {"cniVersion": "1.1.0"}, {"CNI_CONTAINERID": ""}, 4),
    ("ADD", {"cniVersion": "1.1.0"}, {"CNI_IFNAME": "a/b"}, 4),
    ("ADD", b"{not json", {}, 6),
    ("ADD", {"cniVersion": "1.1.0", "name": "hl", "ipam": {"type": "x"}}, {}, 7),
    ("ADD", {"cniVersion": "1.1.0", "name": "hl", "ipam": {
        "type": "x", "ranges": [[{"subnet": "10.250.9.0/31"}]]}}, {}, 7),
])
def test_error_codes(command: str | None, config: Any, env: dict[str, str], code: int) -> None:
    raw = config if isinstance(config, bytes) else None
    rc, out = run(command, config, raw=raw, **env)
    assert rc == 1
    assert out["code"] == code and out["msg"]
    if code == 1:
        assert "1.1.0" in out["details"] or "0.4.0" in out["details"]
    if code == 4:
        assert "CNI_" in out["details"]
        for name in env:
            assert name in out["details"]


def test_io_failure_is_code_5() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
    env.update(CNI_COMMAND="ADD", CNI_CONTAINERID="c", CNI_NETNS="/x", CNI_IFNAME="eth0")
    # no stdin at all: the configuration cannot be read
    proc = subprocess.run([EXE], stdin=subprocess.DEVNULL, capture_output=True, env=env,
                          timeout=60, preexec_fn=lambda: os.close(0))
    assert proc.returncode == 1 and json.loads(proc.stdout)["code"] == 5
