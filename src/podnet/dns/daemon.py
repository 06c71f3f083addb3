"""The DNS server as a process: options, the zone's source, worker processes.

``python -m podnet.dns.server --listen 0.0.0.0:53 --apiserver-socket PATH``
serves a live cluster (list + watch through the API server's HTTP client);
``--manifests FILE...`` serves static objects offline (tests, the bench).
``--workers N`` forks N processes that each bind the same address with
SO_REUSEPORT — the kernel spreads datagrams and connections between them —
and each keep their own zone and cache (each watches the API by itself, like N
CoreDNS replicas). The parent restarts a worker that dies and stops them all on
SIGTERM/SIGINT. Once every worker is bound it prints
``podnet-dns listening on HOST:PORT (N workers)`` on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing as mp
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from podnet.dns.forward import parse_hostport, resolv_conf_nameservers
from podnet.dns.server import DNSServer, ServerOptions
from podnet.dns.zone import Zone

log = logging.getLogger("podnet.dns")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="podnet-dns", description="podnet's cluster DNS server")
    p.add_argument("--listen", default="0.0.0.0:53", help="ADDR:PORT (port 0: pick one)")
    p.add_argument("--zone", default="cluster.local", help="cluster domain")
    p.add_argument("--ttl", type=int, default=5, help="TTL of cluster answers (CoreDNS: 5)")
    p.add_argument("--upstream", action="append", default=[],
                   help="upstream resolver ADDR[:PORT] (repeatable; default: --resolv-conf)")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf",
                   help="nameservers to forward to when no --upstream is given")
    p.add_argument("--no-upstream", action="store_true", help="never forward (SERVFAIL)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per upstream try")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    p.add_argument("--pods", default="insecure", choices=("disabled", "insecure", "verified"),
                   help="answers for <a-b-c-d>.<ns>.pod.<zone> (CoreDNS's pods option)")
    p.add_argument("--autopath", action="store_true",
                   help="answer a pod's search path in one query (CoreDNS autopath)")
    p.add_argument("--health-listen", metavar="ADDR:PORT",
                   help="serve GET /health and /ready here (CoreDNS's health and ready plugins)")
    p.add_argument("--lameduck", type=float, default=0.0, metavar="SECONDS",
                   help="on SIGTERM, report not ready and keep answering this long before exiting")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--apiserver-socket", help="the API server's unix socket: list + watch")
    src.add_argument("--manifests", nargs="+", help="serve these YAML/JSON files offline")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def options_of(args: argparse.Namespace, port: int) -> ServerOptions:
    host = parse_hostport(args.listen)[0]
    if args.no_upstream:
        ups = []
    elif args.upstream:
        ups = [parse_hostport(u) for u in args.upstream]
    else:
        ups = [u for u in resolv_conf_nameservers(args.resolv_conf) if u != (host, port)]
    return ServerOptions(host=host, port=port, upstreams=ups, timeout=args.timeout,
                         autopath=args.autopath)


async def serve(args: argparse.Namespace, port: int, ready: Any = None) -> None:
    """One worker: build the zone from its source, bind, serve until cancelled."""
    zone = Zone(domain=args.zone, ttl=args.ttl, pod_mode=args.pods)
    sync = None
    if args.manifests:
        from podnet.dns.source import load_manifests, with_endpoints

        zone.load(with_endpoints(load_manifests(args.manifests)))
    server = DNSServer(zone, options_of(args, port))
    await server.start()
    if args.apiserver_socket:
        from podnet.apiserver.client import Client
        from podnet.dns.sync import ZoneSync

        sync = ZoneSync(Client(socket_path=args.apiserver_socket), zone)
        await sync.start()
    stopping = False
    health = None
    if args.health_listen:
        from podnet.dns.health import HealthServer

        health = HealthServer(args.health_listen, lambda: zone.synced and not stopping)
        await health.start()
    gc.freeze()  # the loaded zone is long-lived: keep it out of the collector's scans
    if ready is not None:
        ready.put(server.port)
    else:
        print(f"podnet-dns listening on {server.options.host}:{server.port} (1 worker)",
              flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        if args.lameduck > 0:
            stopping = True  # /ready fails: the replica leaves its Service while still answering
            log.info("lame duck: answering for %.1fs more", args.lameduck)
            await asyncio.sleep(args.lameduck)
    finally:
        if health is not None:
            await health.close()
        if sync is not None:
            await sync.stop()
            await sync.store.close()
        await server.close()


def _worker(args: argparse.Namespace, port: int, ready: Any) -> None:
    try:
        asyncio.run(serve(args, port, ready))
    except KeyboardInterrupt:
        pass


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def run(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    host, port = parse_hostport(args.listen)
    if args.workers <= 1:
        try:
            asyncio.run(serve(args, port))
        except KeyboardInterrupt:
            pass
        return 0
    if port == 0:
        port = _free_port(host)
    ctx = mp.get_context("fork")
    ready = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(args, port, ready), daemon=True)
             for _ in range(args.workers)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    print(f"podnet-dns listening on {host}:{port} ({args.workers} workers)", flush=True)
    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        time.sleep(0.2)
        for i, p in enumerate(procs):
            if not p.is_alive() and not stopping:
                log.warning("worker %d (pid %s) exited with %s; restarting", i, p.pid, p.exitcode)
                procs[i] = ctx.Process(target=_worker, args=(args, port, ready), daemon=True)
                procs[i].start()
    for p in procs:
        if p.pid is not None and p.is_alive():
            os.kill(p.pid, signal.SIGTERM)
    for p in procs:
        p.join(timeout=5 + args.lameduck)
        if p.is_alive():
            p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(run())
