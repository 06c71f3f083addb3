"""System objects every cluster gets after its nodes are Ready (applied by ``podnet up``).

Empty for now; the cluster DNS (kube-dns Service + Deployment in kube-system) lands here.
"""

from __future__ import annotations

from podnet.api.config import ClusterConfig
from podnet.api.kinds import Obj


def manifests(config: ClusterConfig) -> list[Obj]:
    """The objects to apply for ``config`` (already valid, ready for ``apply_all``)."""
    del config
    return []
