"""``podnet-host-local``: the host-local IPAM plugin (CNI delegated plugin).

Allocates one address per range set from a local lease store (see
:mod:`podnet.cni.hostlocal_store`), returns the abbreviated IPAM result
(``ips`` with address/gateway, ``routes``, ``dns``), releases by
container id + ifname on DEL, verifies the lease on CHECK, drops leases of
attachments that are no longer valid on GC, and reports exhaustion on STATUS
(code 50). A full range set on ADD is error 100 and leaves no lease behind.

Start-up speed: only ADD and STATUS parse ranges, so :mod:`ipaddress` (through
:mod:`podnet.cni.hostlocal_ranges`, ~5 ms of imports) is loaded by those verbs
alone; DEL, CHECK and GC need nothing but the lease store.
"""

from __future__ import annotations

import sys

from podnet.cni import errors, skel
from podnet.cni.errors import CniError
from podnet.cni.hostlocal_store import DEFAULT_DATA_DIR, LeaseStore
from podnet.cni.result import Result

TYPE_CHECKING = False  # importing typing costs ~5 ms per plugin process
if TYPE_CHECKING:
    from typing import Any

    from podnet.cni.hostlocal_ranges import IP, Range


class HostLocal(skel.Plugin):
    def _setup(self, args: skel.CmdArgs) -> tuple[dict[str, Any], LeaseStore]:
        ipam = args.config.get("ipam")
        if not isinstance(ipam, dict):
            raise CniError(errors.INVALID_CONFIG, "missing ipam section")
        data_dir = ipam.get("dataDir") or DEFAULT_DATA_DIR
        timeout = ipam.get("lockTimeout", 10.0)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout < 0:
            raise CniError(errors.INVALID_CONFIG, "lockTimeout must be a number of seconds",
                           f"lockTimeout={timeout!r}")
        return ipam, LeaseStore(str(data_dir), str(args.config.get("name", "")), float(timeout))

    def _sets(self, args: skel.CmdArgs, ipam: dict[str, Any]) -> list[list[Range]]:
        from podnet.cni.hostlocal_ranges import parse_range_sets

        runtime = args.config.get("runtimeConfig") or {}
        return parse_range_sets(ipam, runtime if isinstance(runtime, dict) else {})

    def add(self, args: skel.CmdArgs) -> Result:
        from podnet.cni.hostlocal_ranges import parse_routes, requested_ips

        ipam, store = self._setup(args)
        sets = self._sets(args, ipam)
        routes = parse_routes(ipam)
        wanted = requested_ips(args.config, args.cni_args())
        ips: list[dict[str, Any]] = []
        with store.locked():
            if any(cid == args.container_id and name == args.ifname
                   for _ip, cid, name in store.leases()):
                raise CniError(errors.INVALID_CONFIG, "duplicate allocation",
                               f"{args.container_id}/{args.ifname} already holds an address")
            taken: list[str] = []
            try:
                for index, ranges in enumerate(sets):
                    ip, rng = self._allocate(store, index, ranges, wanted, args)
                    taken.append(str(ip))
                    entry = {"address": f"{ip}/{rng.subnet.prefixlen}"}
                    if rng.gateway is not None:
                        entry["gateway"] = str(rng.gateway)
                    ips.append(entry)
            except BaseException:
                for ip_str in taken:
                    store.release(ip_str)
                raise
        out: Result = {"ips": ips, "routes": routes}
        if isinstance(ipam.get("dns"), dict):
            out["dns"] = ipam["dns"]
        return out

    def _allocate(self, store: LeaseStore, index: int, ranges: list[Range], wanted: list[IP],
                  args: skel.CmdArgs) -> tuple[IP, Range]:
        import ipaddress

        from podnet.cni.hostlocal_ranges import next_candidates

        for ip in wanted:
            for rng in ranges:
                if ip in rng:
                    if ip == rng.gateway or not store.reserve(str(ip), args.container_id,
                                                              args.ifname):
                        raise CniError(errors.NO_FREE_ADDRESS, "requested address unavailable",
                                       f"{ip} is already leased or is the gateway")
                    return ip, rng
        last_raw = store.last_reserved(index)
        last: IP | None = None
        if last_raw:
            try:
                last = ipaddress.ip_address(last_raw)
            except ValueError:
                last = None
        for ip in next_candidates(ranges, last):
            if store.reserve(str(ip), args.container_id, args.ifname):
                store.set_last_reserved(index, str(ip))
                rng = next(r for r in ranges if ip in r)
                return ip, rng
        desc = ", ".join(f"{r.start}-{r.end}" for r in ranges)
        raise CniError(errors.NO_FREE_ADDRESS, "no IP addresses available in range set", desc)

    def delete(self, args: skel.CmdArgs) -> None:
        _ipam, store = self._setup(args)
        with store.locked(create=False) as present:
            if present:
                store.release_by_id(args.container_id, args.ifname)

    def check(self, args: skel.CmdArgs) -> None:
        _ipam, store = self._setup(args)
        with store.locked(create=False) as present:
            mine = present and any(cid == args.container_id and name == args.ifname
                                   for _ip, cid, name in store.leases())
        if not mine:
            raise CniError(errors.CHECK_FAILED, "no lease for the attachment",
                           f"{args.container_id}/{args.ifname} holds no address")

    def gc(self, args: skel.CmdArgs) -> None:
        _ipam, store = self._setup(args)
        valid = skel.valid_attachments(args.config)
        with store.locked(create=False) as present:
            if not present:
                return
            for ip, cid, name in list(store.leases()):
                if (cid, name) not in valid:
                    store.release(ip)

    def status(self, args: skel.CmdArgs) -> None:
        import ipaddress

        ipam, store = self._setup(args)
        sets = self._sets(args, ipam)
        leased = [ipaddress.ip_address(ip) for ip, _c, _n in store.leases() if _is_ip(ip)]
        for ranges in sets:
            used = sum(1 for ip in leased for r in ranges if ip in r and ip != r.gateway)
            if used >= sum(r.size() for r in ranges):
                raise CniError(errors.NOT_AVAILABLE, "address pool exhausted",
                               ", ".join(str(r.subnet) for r in ranges))


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def main() -> int:
    return skel.run(HostLocal())


if __name__ == "__main__":
    sys.exit(main())
