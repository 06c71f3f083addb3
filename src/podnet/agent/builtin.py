"""Which containers run podnet's built-in server, and on which ports.

A container without ``command`` and ``args`` serves every declared
containerPort. Manifests written for the upstream e2e suites run agnhost
(``registry.k8s.io/e2e-test-images/agnhost``); its ``netexec`` and
``serve-hostname`` modes are answered by the same built-in server, on the
ports their flags name, so those manifests work unchanged.
"""

from __future__ import annotations

from podnet.api.kinds import Obj

Ports = tuple[tuple[int, str], ...]


def _declared(c: Obj) -> list[tuple[int, str]]:
    return [(int(p["containerPort"]), str(p.get("protocol", "TCP"))) for p in c.get("ports") or []]


VALUE_FLAGS = {"port", "http-port", "udp-port", "sctp-port"}


def _flags(args: list[str]) -> dict[str, str]:
    """``--k=v``, ``--k v`` (for flags that take a value) and ``--bool``."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            k, eq, v = a[2:].partition("=")
            if not eq and k in VALUE_FLAGS and i + 1 < len(args):
                v, i = args[i + 1], i + 1
            out[k] = v if (eq or v) else "true"
        i += 1
    return out


def builtin_ports(c: Obj) -> Ports | None:
    """The ports the built-in server answers for container ``c``; None when it runs a program."""
    command = [str(x) for x in c.get("command") or []]
    args = [str(x) for x in c.get("args") or []]
    if not command and not args:
        return tuple(_declared(c))
    words = [*command, *args]
    is_agnhost = "agnhost" in str(c.get("image", "")) or (command and command[0].endswith("agnhost"))
    if not is_agnhost:
        return None
    mode_at = next((i for i, w in enumerate(words) if w in ("netexec", "serve-hostname")), None)
    if mode_at is None:
        return None
    flags = _flags(words[mode_at + 1:])
    ports = _declared(c)
    if words[mode_at] == "netexec":
        ports.append((int(flags.get("http-port", "8080")), "TCP"))
        if "udp-port" in flags and flags["udp-port"] != "-1":
            ports.append((int(flags["udp-port"]), "UDP"))
        elif "udp-port" not in flags:
            ports.append((8081, "UDP"))
        if flags.get("sctp-port", "-1") != "-1":
            ports.append((int(flags["sctp-port"]), "SCTP"))
    else:
        port = int(flags.get("port", "9376"))
        if flags.get("tcp") == "true" or flags.get("http", "true") == "true":
            ports.append((port, "TCP"))
        if flags.get("udp") == "true":
            ports.append((port, "UDP"))
    return tuple(dict.fromkeys(ports))
