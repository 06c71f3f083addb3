"""``podnet-bridge``: the bridge interface plugin (ADD/DEL/CHECK/STATUS/GC).

ADD, in the namespace the runtime runs us in (the node): make sure the bridge
exists and is up; create a veth pair whose container end is born inside
CNI_NETNS already named CNI_IFNAME, the host end (``pnv<hash>``) enslaved to
the bridge; delegate IPAM; put the addresses and routes on the container end;
give the bridge the gateway address (isGateway) and turn on forwarding; add
the masquerade element (ipMasq). Any failure undoes everything done so far,
including an IPAM DEL, so a failed ADD leaves no veth and no lease.

DEL releases the lease and meanwhile removes the veth (via whichever end is
still reachable) and the masquerade element; each part tolerates being gone,
including an empty or vanished CNI_NETNS. In both ADD and DEL the IPAM plugin
runs as its own process concurrently with this one's netlink work (it needs
nothing from it), and is always waited for before the call returns or undoes.
CHECK compares prevResult with the kernel (see :mod:`podnet.cni.bridge_check`). GC removes leases (delegated),
host veths on this bridge and masquerade elements of attachments that are no
longer valid.

Netlink sockets for the container namespace are opened inside it with setns
and then used from the node namespace; no helper process is ever forked.

Start-up speed: this runs as a fresh process per call, so it imports no
``typing``/``contextlib``/``ipaddress`` (addresses go through
:func:`podnet.kernel.routes.parse_cidr`), and ``masq``/``bridge_check`` only
when ipMasq/CHECK need them.
"""

from __future__ import annotations

import os
import sys

from podnet.cni import errors, ipam, skel
from podnet.cni.bridge_config import BridgeConf, host_veth_name, parse
from podnet.cni.errors import CniError
from podnet.cni.result import Result
from podnet.kernel import links, netns, routes
from podnet.kernel.rtnl import Rtnl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def open_pod_netns(path: str) -> int:
    try:
        return netns.open_fd(path)
    except OSError as err:
        raise CniError(errors.UNKNOWN_CONTAINER, "cannot open the container network namespace",
                       f"{path}: {err.strerror}") from None


def pod_rtnl(fd: int) -> Rtnl:
    """A netlink socket bound to the namespace behind ``fd``."""
    with netns.entered(fd):
        return Rtnl()


def ensure_bridge(nl: Rtnl, conf: BridgeConf) -> links.Link:
    br = links.get(nl, conf.bridge)
    if br is None:
        try:
            br = links.add_bridge(nl, conf.bridge, mtu=conf.mtu)
        except FileExistsError:  # a concurrent ADD made it first
            br = links.get(nl, conf.bridge)
            assert br is not None
    if br.kind != "bridge":
        raise CniError(errors.INVALID_CONFIG, f"{conf.bridge} exists and is not a bridge",
                       f"kind={br.kind!r}")
    if not br.up or (conf.promisc and not br.flags & links.IFF_PROMISC):
        links.set_link(nl, br.ifindex, up=True, promisc=True if conf.promisc else None)
    return br


def _enable_forwarding(versions: set[int]) -> None:
    paths = {4: "/proc/sys/net/ipv4/ip_forward", 6: "/proc/sys/net/ipv6/conf/all/forwarding"}
    for v in versions:
        with open(paths[v], "r+") as f:
            if f.read().strip() != "1":
                f.seek(0)
                f.write("1")


def _gateway_for(ips: list[dict[str, Any]], dst: str) -> str | None:
    family = routes.parse_cidr(dst)[0]
    for ip in ips:
        gw = ip.get("gateway")
        if gw and routes.parse_ip(gw)[0] == family:
            return str(gw)
    return None


def _configure_gateway(host: Rtnl, br: links.Link, conf: BridgeConf, ips: list[dict[str, Any]]
                       ) -> None:
    have = {a.cidr for a in routes.addresses(host, br.ifindex)}
    versions: set[int] = set()
    for ip in ips:
        if not ip.get("gateway"):
            continue
        prefix = routes.parse_cidr(ip["address"])[2]
        cidr = f"{ip['gateway']}/{prefix}"
        versions.add(4 if routes.parse_ip(ip["gateway"])[0] == routes.AF_INET else 6)
        if cidr not in have:
            try:
                routes.add_address(host, br.ifindex, cidr)
            except FileExistsError:
                pass
    _enable_forwarding(versions)


def _configure_pod(pod: Rtnl, ifname: str, conf: BridgeConf, result: Result) -> links.Link:
    link = links.get(pod, ifname)
    if link is None:
        raise CniError(errors.INTERNAL, f"{ifname} vanished from the container")
    links.set_link(pod, link.ifindex, up=True)
    for ip in result["ips"]:
        routes.add_address(pod, link.ifindex, ip["address"])
    for route in result["routes"]:
        gw = route.get("gw") or _gateway_for(result["ips"], route["dst"])
        try:
            routes.add_route(pod, route["dst"], gw, oif=link.ifindex,
                             priority=int(route.get("priority", 0)),
                             table=int(route.get("table", 0)), mtu=int(route.get("mtu", 0)),
                             advmss=int(route.get("advmss", 0)))
        except FileExistsError:
            pass
    return link


def _is_default(dst: str, family: int) -> bool:
    """Whether ``dst`` is the default route (0.0.0.0/0, ::/0) of ``family``, in any spelling."""
    fam, _packed, prefix = routes.parse_cidr(dst)
    return fam == family and prefix == 0


class Bridge(skel.Plugin):
    def add(self, args: skel.CmdArgs) -> Result:
        conf = parse(args.config)
        pod_fd = open_pod_netns(args.netns)
        hostname = host_veth_name(args.container_id, args.ifname)
        made_veth = called_ipam = False
        pending: ipam.Delegation | None = None
        try:
            with Rtnl() as host, pod_rtnl(pod_fd) as pod:
                if links.get(pod, args.ifname) is not None:
                    raise CniError(errors.INTERFACE_EXISTS, "interface already exists",
                                   f"{args.ifname} exists in {args.netns}")
                try:
                    # IPAM runs (its own process) while this one makes the bridge and the veth
                    pending = ipam.start(args) if conf.has_ipam else None
                    called_ipam = pending is not None
                    br = ensure_bridge(host, conf)
                    links.delete(host, hostname)  # a leftover of an earlier, crashed ADD
                    links.add_veth(host, hostname, args.ifname, peer_netns_fd=pod_fd,
                                   mtu=conf.mtu, master=br.ifindex, ipv6=False)
                    made_veth = True
                    if conf.hairpin:
                        links.set_hairpin(host, links.get(host, hostname).ifindex)  # type: ignore[union-attr]
                    running, pending = pending, None  # waited for once, here
                    ipres = running.wait() if running is not None else None
                    result = self._result(conf, args, ipres)
                    if conf.is_gateway:
                        _configure_gateway(host, br, conf, result["ips"])
                    pod_link = _configure_pod(pod, args.ifname, conf, result)
                    veth = links.get(host, hostname)
                    br = links.get(host, conf.bridge) or br
                    if conf.ip_masq:
                        from podnet.cni import masq

                        masq.add(conf.network, args.container_id, args.ifname,
                                 [ip["address"] for ip in result["ips"]])
                except OSError as err:
                    raise CniError(errors.INTERNAL, "kernel refused an operation",
                                   f"{err.strerror or err}") from None
        except BaseException:
            if pending is not None:  # its ADD must be over before the undo's DEL
                try:
                    pending.wait()
                except CniError:
                    pass
            self._undo(args, hostname, made_veth, called_ipam)
            raise
        finally:
            os.close(pod_fd)
        result["interfaces"] = [
            {"name": br.name, "mac": br.mac},
            {"name": hostname, "mac": veth.mac if veth else ""},
            {"name": args.ifname, "mac": pod_link.mac, "sandbox": args.netns},
        ]
        return result

    def _result(self, conf: BridgeConf, args: skel.CmdArgs, ipres: Result | None) -> Result:
        ips = [dict(ip, interface=2) for ip in (ipres or {}).get("ips", [])]
        route_list = [dict(r) for r in (ipres or {}).get("routes", [])]
        if conf.is_default_gateway:
            for ip in ips:
                if not ip.get("gateway"):
                    continue
                family = routes.parse_ip(ip["gateway"])[0]
                if not any(_is_default(r["dst"], family) for r in route_list):
                    default = "0.0.0.0/0" if family == routes.AF_INET else "::/0"
                    route_list.append({"dst": default, "gw": ip["gateway"]})
        dns = conf.dns or (ipres or {}).get("dns") or {}
        out: Result = {"ips": ips, "routes": route_list}
        if dns:
            out["dns"] = dns
        return out

    def _undo(self, args: skel.CmdArgs, hostname: str, made_veth: bool, called_ipam: bool) -> None:
        if made_veth:
            try:
                with Rtnl() as host:
                    links.delete(host, hostname)
            except Exception:
                pass
        if called_ipam:
            try:
                ipam.delegate(args, "DEL")
            except Exception:
                pass

    def delete(self, args: skel.CmdArgs) -> None:
        conf = parse(args.config)
        # the lease is released (IPAM's own process) while this one removes the veth
        pending = ipam.start(args, "DEL") if conf.has_ipam else None
        try:
            self._delete_links(args, conf)
        except BaseException:
            if pending is not None:
                try:
                    pending.wait()
                except CniError:
                    pass
            raise
        if pending is not None:
            pending.wait()

    def _delete_links(self, args: skel.CmdArgs, conf: BridgeConf) -> None:
        with Rtnl() as host:
            if args.netns:
                try:
                    fd = open_pod_netns(args.netns)
                except CniError:  # the netns is gone, and the veth with it
                    fd = -1
                if fd >= 0:
                    try:
                        with pod_rtnl(fd) as pod:
                            links.delete(pod, args.ifname)
                    finally:
                        os.close(fd)
            links.delete(host, host_veth_name(args.container_id, args.ifname))
        if conf.ip_masq:
            from podnet.cni import masq

            masq.remove(conf.network, args.container_id, args.ifname)

    def check(self, args: skel.CmdArgs) -> None:
        from podnet.cni.bridge_check import check

        conf = parse(args.config)
        if conf.has_ipam:
            ipam.delegate(args, "CHECK")
        check(args, conf)

    def status(self, args: skel.CmdArgs) -> None:
        conf = parse(args.config)
        if conf.has_ipam:
            ipam.delegate(args, "STATUS")

    def gc(self, args: skel.CmdArgs) -> None:
        conf = parse(args.config)
        valid = skel.valid_attachments(args.config)
        failures: list[CniError] = []
        if conf.has_ipam:
            try:
                ipam.delegate(args, "GC")
            except CniError as err:
                failures.append(err)
        keep = {host_veth_name(cid, ifname) for cid, ifname in valid}
        with Rtnl() as host:
            br = links.get(host, conf.bridge)
            if br is not None:
                for link in links.dump(host):
                    if (link.master == br.ifindex and link.name.startswith("pnv")
                            and link.name not in keep):
                        links.delete(host, index=link.ifindex)
        if conf.ip_masq:
            from podnet.cni import masq

            masq.gc(conf.network, valid)
        if failures:
            raise failures[0]


def main() -> int:
    return skel.run(Bridge())


if __name__ == "__main__":
    sys.exit(main())
