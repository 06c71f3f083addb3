"""The small cluster YAML for ``podnet up -f``: name, network mode, CIDRs, nodes.

```yaml
name: demo
network: vxlan            # or flat
podCIDR: 10.244.0.0/16
serviceCIDR: 10.96.0.0/12
nodeCIDR: 172.18.0.0/16
maxPods: 1023             # optional, each node's pod limit (the kubelet's maxPods); 1023 at most
nodes:                    # or `nodes: 3`
  - name: alpha
  - name: beta
    ip: 172.18.0.22       # optional; podCIDR and maxPods too
subnets:                  # optional: L3 subnets joined by a router (vxlan only);
  - 172.18.0.0/24         # nodes without an ip are spread over them
  - 172.19.0.0/24
```
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path
from typing import Any

import yaml

from podnet.api.config import MAX_BRIDGE_PORTS, ClusterConfig, NodeConfig, default_node

KEYS = {"name", "network", "podCIDR", "serviceCIDR", "nodeCIDR", "nodes", "subnets", "maxPods"}


class ConfigFileError(ValueError):
    pass


def build(name: str, nodes: int | list[dict[str, Any]], network: str, pod_cidr: str,
          service_cidr: str, node_cidr: str = "172.18.0.0/16", source: str = "options",
          subnets: list[str] | None = None, max_pods: object = MAX_BRIDGE_PORTS) -> ClusterConfig:
    """A validated ClusterConfig; errors name the source and the field."""
    def fail(field: str, msg: str) -> ConfigFileError:
        return ConfigFileError(f"{source}: {field}: {msg}")

    def pod_limit(field: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BRIDGE_PORTS:
            raise fail(field, f"Invalid value: {value!r}: must be an integer between 1 and "
                              f"{MAX_BRIDGE_PORTS} (a Linux bridge holds at most 1023 ports)")
        return value

    limit = pod_limit("maxPods", max_pods)

    if network not in ("flat", "vxlan"):
        raise fail("network", f'Unsupported value: "{network}": supported values: "flat", "vxlan"')
    nets = {}
    for field, value in (("podCIDR", pod_cidr), ("serviceCIDR", service_cidr), ("nodeCIDR", node_cidr)):
        try:
            nets[field] = ipaddress.ip_network(value)
        except ValueError as e:
            raise fail(field, f"Invalid value: {value!r}: {e}") from None
    if nets["podCIDR"].overlaps(nets["serviceCIDR"]):
        raise fail("serviceCIDR", f"Invalid value: {service_cidr!r}: overlaps podCIDR {pod_cidr}")
    homes = []
    for i, sub in enumerate(subnets or []):
        try:
            homes.append(ipaddress.ip_network(str(sub)))
        except ValueError as e:
            raise fail(f"subnets[{i}]", f"Invalid value: {sub!r}: {e}") from None
    if len(homes) > 1 and network != "vxlan":
        raise fail("network", "nodes on several L3 subnets need network: vxlan (host-gw needs one L2)")
    base = ClusterConfig(name=name, pod_cidr=pod_cidr, service_cidr=service_cidr, node_cidr=node_cidr,
                         network=network, subnets=tuple(str(h) for h in homes))
    homes = homes or [nets["nodeCIDR"]]
    if isinstance(nodes, int):
        if not 1 <= nodes <= 200:
            raise fail("nodes", f"Invalid value: {nodes}: must be between 1 and 200")
        made = base.with_nodes(nodes)
        return dataclasses.replace(
            made, nodes=tuple(dataclasses.replace(n, max_pods=limit) for n in made.nodes))
    out: list[NodeConfig] = []
    for i, n in enumerate(nodes, start=1):
        if not isinstance(n, dict) or not n.get("name"):
            raise fail(f"nodes[{i - 1}].name", "Required value")
        d = default_node(base, i)
        ip = str(n.get("ip", d.ip))
        pod = str(n.get("podCIDR", d.pod_cidr))
        try:
            if not any(ipaddress.ip_address(ip) in h for h in homes):
                where = ", ".join(str(h) for h in homes)
                raise fail(f"nodes[{i - 1}].ip", f"Invalid value: {ip!r}: not inside {where}")
            if not ipaddress.ip_network(pod).subnet_of(nets["podCIDR"]):  # type: ignore[arg-type]
                raise fail(f"nodes[{i - 1}].podCIDR",
                           f"Invalid value: {pod!r}: not inside podCIDR {pod_cidr}")
        except ValueError as e:
            if isinstance(e, ConfigFileError):
                raise
            raise fail(f"nodes[{i - 1}]", f"Invalid value: {e}") from None
        out.append(NodeConfig(str(n["name"]), ip, pod,
                              pod_limit(f"nodes[{i - 1}].maxPods", n.get("maxPods", limit))))
    names = [n.name for n in out]
    if len(set(names)) != len(names):
        raise fail("nodes", "Duplicate value: node names must be unique")
    return ClusterConfig(name=name, pod_cidr=pod_cidr, service_cidr=service_cidr, node_cidr=node_cidr,
                         network=network, nodes=tuple(out), subnets=base.subnets)


def load(path: str, defaults: dict[str, Any]) -> ClusterConfig:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigFileError(f"{path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a mapping")
    unknown = set(data) - KEYS
    if unknown:
        raise ConfigFileError(f"{path}: unknown field(s): {', '.join(sorted(unknown))}")
    return build(str(data.get("name", defaults["name"])), data.get("nodes", defaults["nodes"]),
                 str(data.get("network", defaults["network"])),
                 str(data.get("podCIDR", defaults["pod_cidr"])),
                 str(data.get("serviceCIDR", defaults["service_cidr"])),
                 str(data.get("nodeCIDR", "172.18.0.0/16")), source=path,
                 subnets=[str(x) for x in data.get("subnets") or []],
                 max_pods=data.get("maxPods", MAX_BRIDGE_PORTS))
