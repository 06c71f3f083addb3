"""The node agent process: ``python -m podnet.agent.main --cluster C --node N``.

Started by the cluster supervisor inside the node's network namespace. Reads
the cluster record for its node's settings, talks to the API server over the
cluster's unix socket, and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from podnet.agent.network import PodNetwork
from podnet.agent.node import AgentOptions, NodeAgent
from podnet.agent.paths import NodePaths
from podnet.api.config import apiserver_socket
from podnet.cluster import state


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="podnet-agent")
    ap.add_argument("--cluster", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--heartbeat", type=float, default=10.0)
    ap.add_argument("--restart-backoff", type=float, default=10.0)
    ap.add_argument("--cni", choices=("podnet", "reference"), default="podnet")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s agent/{args.node} %(levelname)s %(message)s")
    rec = state.load(args.cluster)
    if rec is None:
        raise SystemExit(f"cluster {args.cluster!r} has no record")
    node = next((n for n in rec.config.nodes if n.name == args.node), None)
    if node is None:
        raise SystemExit(f"cluster {args.cluster!r} has no node {args.node!r}")
    opts = AgentOptions(heartbeat=args.heartbeat, restart_base=args.restart_backoff)

    async def run() -> None:
        from podnet.apiserver.client import Client

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with Client(socket_path=str(apiserver_socket(args.cluster))) as client:
            net = PodNetwork(NodePaths(args.cluster, args.node), node, rec.config,
                             reference=args.cni == "reference")
            await NodeAgent(rec.config, node, client, net, opts).run(stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
