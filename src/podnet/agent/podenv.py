"""What a container sees of the cluster, computed purely from API objects.

* Service environment variables (``WEB_SERVICE_HOST``, ``WEB_PORT_80_TCP_ADDR``...)
  for the Services of the pod's namespace, plus ``kubernetes`` from default, as
  the kubelet writes them; only Services that exist when the container starts.
* The container's environment: service links, then ``envFrom`` (ConfigMaps,
  Secrets), then ``env`` (literal values and ``valueFrom`` refs), later wins.
* ``/etc/resolv.conf`` per dnsPolicy (ClusterFirst, ClusterFirstWithHostNet,
  Default, None + dnsConfig) and ``/etc/hosts`` (with the pod's FQDN for
  hostname + subdomain pods).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from podnet.api.kinds import Obj


class EnvError(ValueError):
    """A referenced ConfigMap/Secret key is missing (the kubelet's CreateContainerConfigError)."""


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_links(services: Sequence[Obj], namespace: str, enable_links: bool = True) -> dict[str, str]:
    """The docker-links style variables for ``namespace``'s Services (+ default/kubernetes)."""
    env: dict[str, str] = {}
    chosen: list[Obj] = []
    for svc in sorted(services, key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"])):
        ns, name = svc["metadata"].get("namespace", ""), svc["metadata"]["name"]
        if (ns == namespace and enable_links) or (ns == "default" and name == "kubernetes"):
            chosen.append(svc)
    for svc in chosen:
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        ports = spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        base = _env_name(svc["metadata"]["name"])
        first = ports[0]
        env[f"{base}_SERVICE_HOST"] = ip
        env[f"{base}_SERVICE_PORT"] = str(first["port"])
        for p in ports:
            if p.get("name"):
                env[f"{base}_SERVICE_PORT_{_env_name(p['name'])}"] = str(p["port"])
        env[f"{base}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
        for p in ports:
            proto = p.get("protocol", "TCP")
            key = f"{base}_PORT_{p['port']}_{proto}"
            env[key] = f"{proto.lower()}://{ip}:{p['port']}"
            env[f"{key}_PROTO"] = proto.lower()
            env[f"{key}_PORT"] = str(p["port"])
            env[f"{key}_ADDR"] = ip
    return env


def _lookup(kind: str, sources: Mapping[str, Obj], name: str, key: str | None,
            optional: bool) -> dict[str, str] | None:
    obj = sources.get(name)
    if obj is None:
        if optional:
            return None
        raise EnvError(f'{kind} "{name}" not found')
    data: dict[str, str] = dict(obj.get("data") or {})
    if kind == "secret":
        data = {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
        data.update(obj.get("stringData") or {})
    if key is not None and key not in data:
        if optional:
            return None
        where = f'{obj["metadata"].get("namespace")}/{name}'
        raise EnvError(f"couldn't find key {key} in {kind.capitalize()} {where}")
    return data


def container_env(
    pod: Obj,
    container: Obj,
    services: Sequence[Obj],
    configmaps: Mapping[str, Obj],
    secrets: Mapping[str, Obj],
) -> dict[str, str]:
    """The full environment of one container, in the kubelet's precedence order."""
    spec = pod.get("spec") or {}
    meta = pod.get("metadata") or {}
    env = service_links(services, meta.get("namespace", "default"), spec.get("enableServiceLinks", True))
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        for kind, ref in (("configmap", src.get("configMapRef")), ("secret", src.get("secretRef"))):
            if ref:
                table = configmaps if kind == "configmap" else secrets
                data = _lookup(kind, table, ref["name"], None, bool(ref.get("optional")))
                env.update({prefix + k: v for k, v in (data or {}).items()})
    for var in container.get("env") or []:
        if "valueFrom" not in var:
            env[var["name"]] = str(var.get("value", ""))
            continue
        vf: dict[str, Any] = var["valueFrom"]
        value = _value_from(pod, vf, configmaps, secrets)
        if value is not None:
            env[var["name"]] = value
    return env


def _value_from(pod: Obj, vf: dict[str, Any], configmaps: Mapping[str, Obj],
                secrets: Mapping[str, Obj]) -> str | None:
    for kind, ref in (("configmap", vf.get("configMapKeyRef")), ("secret", vf.get("secretKeyRef"))):
        if ref:
            table = configmaps if kind == "configmap" else secrets
            data = _lookup(kind, table, ref["name"], ref["key"], bool(ref.get("optional")))
            return None if data is None else data[ref["key"]]
    field = (vf.get("fieldRef") or {}).get("fieldPath")
    if field:
        meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
        values = {
            "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
            "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
            "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
            "status.podIP": status.get("podIP"), "status.hostIP": status.get("hostIP"),
        }
        if field.startswith("metadata.labels['"):
            return str((meta.get("labels") or {}).get(field[17:-2], ""))
        return str(values.get(field) or "")
    return None


def resolv_conf(pod: Obj, dns_ip: str, zone: str, node_resolv: str) -> str:
    """``/etc/resolv.conf`` for the pod, per its dnsPolicy and dnsConfig."""
    spec = pod.get("spec") or {}
    ns = (pod.get("metadata") or {}).get("namespace", "default")
    policy = spec.get("dnsPolicy", "ClusterFirst")
    host_net = bool(spec.get("hostNetwork"))
    nameservers: list[str] = []
    searches: list[str] = []
    options: dict[str, str | None] = {}
    cluster = policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not host_net)
    if cluster:
        nameservers = [dns_ip]
        searches = [f"{ns}.svc.{zone}", f"svc.{zone}", zone]
        options = {"ndots": "5"}
    elif policy in ("Default", "ClusterFirst"):
        for line in node_resolv.splitlines():
            parts = line.split()
            if not parts or parts[0].startswith(("#", ";")):
                continue
            if parts[0] == "nameserver" and len(parts) > 1:
                nameservers.append(parts[1])
            elif parts[0] in ("search", "domain"):
                searches.extend(parts[1:])
            elif parts[0] == "options":
                for opt in parts[1:]:
                    k, _, v = opt.partition(":")
                    options[k] = v or None
    cfg = spec.get("dnsConfig") or {}
    for ns_ip in cfg.get("nameservers") or []:
        if ns_ip not in nameservers:
            nameservers.append(ns_ip)
    for s in cfg.get("searches") or []:
        if s not in searches:
            searches.append(s)
    for opt in cfg.get("options") or []:
        options[opt["name"]] = opt.get("value")
    lines = [f"nameserver {n}" for n in nameservers[:3]]
    if searches:
        lines.insert(0, "search " + " ".join(searches[:32]))
    if options:
        lines.append("options " + " ".join(k if v is None else f"{k}:{v}" for k, v in options.items()))
    return "\n".join(lines) + "\n"


def hosts_file(pod: Obj, zone: str) -> str:
    """``/etc/hosts`` as the kubelet writes it."""
    spec, meta, status = pod.get("spec") or {}, pod.get("metadata") or {}, pod.get("status") or {}
    lines = ["# Kubernetes-managed hosts file (podnet).", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
             "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters"]
    ip = status.get("podIP")
    hostname = spec.get("hostname") or meta.get("name", "")
    if ip:
        sub = spec.get("subdomain")
        if sub:
            fqdn = f"{hostname}.{sub}.{meta.get('namespace', 'default')}.svc.{zone}"
            lines.append(f"{ip}\t{fqdn}\t{hostname}")
        else:
            lines.append(f"{ip}\t{hostname}")
    for alias in spec.get("hostAliases") or []:
        lines.append(f"{alias['ip']}\t" + "\t".join(alias.get("hostnames") or []))
    return "\n".join(lines) + "\n"
