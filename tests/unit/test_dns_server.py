"""The DNS server over real UDP and TCP on loopback (random high ports, no root).

A fake upstream (a tiny dnslib-based server on loopback) stands in for the
node's resolver; a bound socket that never answers stands in for a dead one.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import dnslib
import pytest
from test_dns_records import FIXTURE, make_zone

from podnet.dns.server import DNSServer, ServerOptions
from podnet.dns.sync import ZoneSync
from podnet.dns.zone import Zone
from podnet.store.memory import MemoryStore

LO = "127.0.0.1"


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 30))


@asynccontextmanager
async def serving(zone: Zone, **opts: Any) -> AsyncIterator[DNSServer]:
    server = DNSServer(zone, ServerOptions(host=LO, port=0, **opts))
    await server.start()
    try:
        yield server
    finally:
        await server.close()


async def ask(port: int, name: str, qtype: str = "A", tcp: bool = False,
              edns: int | None = None, rd: bool = True) -> dnslib.DNSRecord:
    q = dnslib.DNSRecord.question(name, qtype)
    q.header.rd = int(rd)
    if edns is not None:
        q.add_ar(dnslib.EDNS0(udp_len=edns))
    raw = await asyncio.to_thread(q.send, LO, port, tcp=tcp, timeout=5)
    r = dnslib.DNSRecord.parse(raw)
    assert r.header.id == q.header.id
    return r


def rcode(r: dnslib.DNSRecord) -> str:
    return str(dnslib.RCODE.get(r.header.rcode))


def datas(r: dnslib.DNSRecord, rtype: str | None = None) -> list[str]:
    return [str(rr.rdata) for rr in r.rr if rtype is None or dnslib.QTYPE.get(rr.rtype) == rtype]


class FakeUpstream(asyncio.DatagramProtocol):
    """Answers every A question with 203.0.113.9 (and counts the questions)."""

    def __init__(self) -> None:
        self.questions: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        q = dnslib.DNSRecord.parse(data)
        self.questions.append(str(q.q.qname))
        reply = q.reply()
        if q.q.qtype == dnslib.QTYPE.A:
            reply.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, ttl=60,
                                       rdata=dnslib.A("203.0.113.9")))
        assert self.transport is not None
        self.transport.sendto(reply.pack(), addr)


@asynccontextmanager
async def fake_upstream() -> AsyncIterator[tuple[FakeUpstream, int]]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(FakeUpstream, local_addr=(LO, 0))
    try:
        yield proto, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def big_headless_zone(n: int) -> Zone:
    zone = Zone()
    zone.load([
        {"kind": "Service", "metadata": {"name": "big", "namespace": "default"},
         "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}},
        {"kind": "EndpointSlice", "metadata": {"name": "big-1", "namespace": "default",
         "labels": {"kubernetes.io/service-name": "big"}}, "addressType": "IPv4",
         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
         "endpoints": [{"addresses": [f"10.244.{i // 200}.{i % 200 + 1}"]} for i in range(n)]},
    ])
    return zone


def test_udp_and_tcp_answers_with_case_echo() -> None:
    async def body() -> None:
        async with serving(make_zone()) as srv:
            for tcp in (False, True):
                r = await ask(srv.port, "web.default.svc.cluster.local", tcp=tcp)
                assert rcode(r) == "NOERROR" and datas(r) == ["10.96.0.50"]
                assert r.header.aa == 1 and r.header.ra == 1
            # a cache hit answers in the case of *this* query, question and owner alike
            r = await ask(srv.port, "WeB.DEFAULT.svc.Cluster.local")
            assert str(r.q.qname) == "WeB.DEFAULT.svc.Cluster.local."
            assert [str(rr.rname) for rr in r.rr] == ["WeB.DEFAULT.svc.Cluster.local."]
            srv_r = await ask(srv.port, "_MySQL._tcp.DB.default.svc.cluster.local", "SRV")
            assert len(srv_r.rr) == 3 and len(srv_r.ar) == 3
            assert {str(rr.rname) for rr in srv_r.rr} == {
                "_MySQL._tcp.DB.default.svc.cluster.local."}
            nx = await ask(srv.port, "missing.default.svc.cluster.local")
            assert rcode(nx) == "NXDOMAIN" and dnslib.QTYPE.get(nx.auth[0].rtype) == "SOA"
            rd0 = await ask(srv.port, "web.default.svc.cluster.local", rd=False)
            assert rd0.header.rd == 0 and datas(rd0) == ["10.96.0.50"]

    run(body)


def test_edns_size_and_truncation() -> None:
    async def body() -> None:
        async with serving(big_headless_zone(100)) as srv:
            name = "big.default.svc.cluster.local"
            plain = await ask(srv.port, name)  # no EDNS: 512 bytes
            assert plain.header.tc == 1 and not plain.rr and not plain.ar
            small = await ask(srv.port, name, edns=1232)  # 100 A records: > 1232 bytes
            assert small.header.tc == 1
            assert [dnslib.QTYPE.get(r.rtype) for r in small.ar] == ["OPT"]
            large = await ask(srv.port, name, edns=4096)
            assert large.header.tc == 0 and len(large.rr) == 100
            assert any(r.rtype == dnslib.QTYPE.OPT and r.rclass == 1232 for r in large.ar)
            tcp = await ask(srv.port, name, tcp=True)
            assert tcp.header.tc == 0 and len(tcp.rr) == 100
            # and again from the cache: the same choices per client size
            assert (await ask(srv.port, name)).header.tc == 1
            assert len((await ask(srv.port, name, edns=4096)).rr) == 100
            # no EDNS in the query: no OPT in the answer
            few = await ask(srv.port, "big.default.svc.cluster.local", "SRV", edns=None)
            assert not any(r.rtype == dnslib.QTYPE.OPT for r in few.ar)

    run(body)


def test_forwarding_external_name_and_autopath() -> None:
    async def body() -> None:
        zone = make_zone()
        # the test client (127.0.0.1) is a pod of namespace "default"
        zone.upsert("Pod", {"metadata": {"name": "me", "namespace": "default"},
                            "status": {"podIP": LO}})
        async with fake_upstream() as (up, up_port), serving(
                zone, upstreams=[(LO, up_port)], timeout=1.0, autopath=True) as srv:
            r = await ask(srv.port, "example.com")
            assert rcode(r) == "NOERROR" and datas(r) == ["203.0.113.9"]
            r = await ask(srv.port, "example.com", tcp=True)
            assert datas(r) == ["203.0.113.9"]  # TCP client: UDP upstream answer relayed
            ext = await ask(srv.port, "ext.default.svc.cluster.local")
            assert datas(ext) == ["www.example.com.", "203.0.113.9"]
            assert "www.example.com." in up.questions
            # an unknown reverse name falls through to the upstream
            await ask(srv.port, "9.9.9.9.in-addr.arpa", "PTR")
            assert "9.9.9.9.in-addr.arpa." in up.questions
            # autopath: the first search-path query is answered with the final hit
            up.questions.clear()
            ap = await ask(srv.port, "google.com.default.svc.cluster.local")
            assert rcode(ap) == "NOERROR"
            assert datas(ap) == ["google.com.", "203.0.113.9"]
            assert up.questions == ["google.com."]
            ap2 = await ask(srv.port, "web.default.default.svc.cluster.local")  # search hit in zone
            assert datas(ap2) == ["web.default.svc.cluster.local.", "10.96.0.50"]

    run(body)


def test_upstream_that_never_answers_gives_servfail() -> None:
    async def body() -> None:
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind((LO, 0))
        try:
            dead = (LO, silent.getsockname()[1])
            async with serving(make_zone(), upstreams=[dead, dead], timeout=0.3) as srv:
                r = await ask(srv.port, "example.com")
                assert rcode(r) == "SERVFAIL"
                assert datas(await ask(srv.port, "web.default.svc.cluster.local")) == \
                    ["10.96.0.50"]
            async with serving(make_zone()) as srv:  # no upstream at all
                assert rcode(await ask(srv.port, "example.com")) == "SERVFAIL"
                ext = await ask(srv.port, "ext.default.svc.cluster.local")
                assert rcode(ext) == "NOERROR" and datas(ext) == ["www.example.com."]
        finally:
            silent.close()

    run(body)


def test_zone_transfer_refused_and_odd_queries() -> None:
    async def body() -> None:
        async with serving(make_zone()) as srv:
            for qtype in ("AXFR", "IXFR"):
                r = await ask(srv.port, "cluster.local", qtype, tcp=True)
                assert rcode(r) == "REFUSED"
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(5)
            try:
                sock.sendto(b"\x01\x02garbage", (LO, srv.port))  # dropped, server lives on
                q = dnslib.DNSRecord.question("web.default.svc.cluster.local")
                q.header.opcode = 2  # STATUS
                sock.sendto(q.pack(), (LO, srv.port))
                r = dnslib.DNSRecord.parse(await asyncio.to_thread(sock.recv, 4096))
                assert rcode(r) == "NOTIMP"
            finally:
                sock.close()
            assert datas(await ask(srv.port, "web.default.svc.cluster.local")) == ["10.96.0.50"]

    run(body)


SERVICE = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "api", "namespace": "prod"},
           "spec": {"clusterIP": "10.96.5.5", "clusterIPs": ["10.96.5.5"],
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}


def test_servfail_until_synced_then_watch_updates_invalidate_the_cache() -> None:
    async def body() -> None:
        store = MemoryStore()
        await store.create("services", dict(SERVICE))
        zone = Zone()
        async with serving(zone) as srv:
            name = "api.prod.svc.cluster.local"
            assert rcode(await ask(srv.port, name)) == "SERVFAIL"
            sync = ZoneSync(store, zone)
            await sync.start()
            try:
                await sync.wait_synced()
                assert datas(await ask(srv.port, name)) == ["10.96.5.5"]
                assert datas(await ask(srv.port, name)) == ["10.96.5.5"]  # now cached
                svc = await store.get("services", "prod", "api")
                svc["spec"]["clusterIP"], svc["spec"]["clusterIPs"] = "10.96.6.6", ["10.96.6.6"]
                await store.update("services", svc)
                for _ in range(500):
                    got = datas(await ask(srv.port, name))
                    if got != ["10.96.5.5"]:
                        break
                    await asyncio.sleep(0.01)
                assert got == ["10.96.6.6"]
                await store.delete("services", "prod", "api")
                for _ in range(500):
                    r = await ask(srv.port, name)
                    if rcode(r) != "NOERROR":
                        break
                    await asyncio.sleep(0.01)
                assert rcode(r) == "NXDOMAIN"
            finally:
                await sync.stop()

    run(body)


DIG = shutil.which("dig")


@pytest.mark.skipif(DIG is None, reason="dig not installed (apt install bind9-dnsutils)")
def test_dig_against_the_standalone_process_with_workers() -> None:
    assert DIG is not None
    proc = subprocess.Popen(
        [sys.executable, "-m", "podnet.dns.server", "--listen", f"{LO}:0", "--workers", "2",
         "--no-upstream", "--manifests", str(FIXTURE)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, proc.stderr.read() if proc.stderr else line
        port = line.split()[3].rsplit(":", 1)[1]
        for extra in ([], ["+tcp"]):
            out = subprocess.run([DIG, f"@{LO}", "-p", port, "+short", *extra,
                                  "web-0.nginx.apps.svc.cluster.local"],
                                 capture_output=True, text=True, timeout=20).stdout
            assert out.split() == ["10.244.1.60"]
        out = subprocess.run([DIG, f"@{LO}", "-p", port, "+short", "SRV",
                              "_http._tcp.web.default.svc.cluster.local"],
                             capture_output=True, text=True, timeout=20).stdout
        assert out.strip() == "0 100 80 web.default.svc.cluster.local."
        full = subprocess.run([DIG, f"@{LO}", "-p", port, "Missing.Default.svc.cluster.local"],
                              capture_output=True, text=True, timeout=20).stdout
        assert "status: NXDOMAIN" in full and "ns.dns.cluster.local. hostmaster" in full
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_fixture_path_exists() -> None:
    assert Path(FIXTURE).exists()
