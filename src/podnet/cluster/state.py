"""A cluster's record on disk: ``<state>/cluster.json``.

Written before anything is created, so ``podnet down`` knows what to remove
even after a crash half-way through ``podnet up``. It names every namespace
the cluster owns; processes are found through pid files whose command lines
must name the cluster (a recycled pid is never killed).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from podnet.api.config import ClusterConfig, NodeConfig, state_dir


@dataclass
class ClusterRecord:
    config: ClusterConfig
    store_url: str
    namespaces: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return record_path(self.config.name)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"config": asdict(self.config), "store_url": self.store_url,
                "namespaces": self.namespaces, "options": self.options}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.path)


def record_path(cluster: str) -> Path:
    return state_dir(cluster) / "cluster.json"


def load(cluster: str) -> ClusterRecord | None:
    try:
        data = json.loads(record_path(cluster).read_text())
    except (OSError, ValueError):
        return None
    cfg = dict(data["config"])
    cfg["nodes"] = tuple(NodeConfig(**n) for n in cfg.get("nodes", []))
    cfg["node_port_range"] = tuple(cfg.get("node_port_range", (30000, 32767)))
    cfg["subnets"] = tuple(cfg.get("subnets", ()))
    return ClusterRecord(ClusterConfig(**cfg), data.get("store_url", ""),
                         list(data.get("namespaces", [])), dict(data.get("options", {})))
