"""Pod status as the kubelet reports it, computed from what the agent observed.

Pure: the agent's record of a pod (IP, containers, probe verdicts, restarts)
in, a ``status`` dict out (phase, podIP(s), hostIP(s), conditions,
containerStatuses). Unchanged inputs give an identical dict, so the agent
writes status only when something really changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from podnet.api.kinds import rfc3339


@dataclass
class ContainerView:
    name: str
    running: bool
    ready: bool
    restart_count: int
    started_at: float | None
    last_exit: int | None = None
    waiting_reason: str | None = None
    finished_at: float | None = None


@dataclass
class PodView:
    pod_ip: str | None
    host_ip: str
    start_time: float
    containers: list[ContainerView] = field(default_factory=list)
    phase_override: str | None = None  # Succeeded / Failed for finished pods
    sandbox_error: str | None = None


def _cond(ctype: str, ok: bool, since: float, reason: str | None = None,
          message: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"type": ctype, "status": "True" if ok else "False",
                         "lastProbeTime": None, "lastTransitionTime": rfc3339(since)}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _container_status(c: ContainerView) -> dict[str, Any]:
    state: dict[str, Any]
    if c.running:
        state = {"running": {"startedAt": rfc3339(c.started_at or 0)}}
    elif c.waiting_reason:
        state = {"waiting": {"reason": c.waiting_reason}}
    elif c.last_exit is not None:
        state = {"terminated": {"exitCode": c.last_exit,
                                "reason": "Completed" if c.last_exit == 0 else "Error",
                                "finishedAt": rfc3339(c.finished_at or 0)}}
    else:
        state = {"waiting": {"reason": "ContainerCreating"}}
    out: dict[str, Any] = {"name": c.name, "ready": c.ready, "restartCount": c.restart_count,
                           "started": c.running, "state": state, "image": "", "imageID": ""}
    if c.last_exit is not None and c.running:
        out["lastState"] = {"terminated": {"exitCode": c.last_exit,
                                           "reason": "Completed" if c.last_exit == 0 else "Error"}}
    return out


def pod_status(v: PodView) -> dict[str, Any]:
    """The ``status`` of a pod from the agent's view of it."""
    t = v.start_time
    if v.sandbox_error:
        return {"phase": "Pending", "hostIP": v.host_ip, "hostIPs": [{"ip": v.host_ip}],
                "conditions": [_cond("PodScheduled", True, t),
                               _cond("PodReadyToStartContainers", False, t, "FailedCreatePodSandBox",
                                     v.sandbox_error)]}
    all_ready = bool(v.containers) and all(c.ready for c in v.containers)
    phase = v.phase_override or ("Running" if any(c.running for c in v.containers) or all_ready
                                 else "Pending")
    status: dict[str, Any] = {
        "phase": phase,
        "hostIP": v.host_ip,
        "hostIPs": [{"ip": v.host_ip}],
        "startTime": rfc3339(t),
        "conditions": [
            _cond("PodReadyToStartContainers", v.pod_ip is not None, t),
            _cond("Initialized", True, t),
            _cond("Ready", all_ready and phase == "Running", t,
                  None if all_ready else "ContainersNotReady"),
            _cond("ContainersReady", all_ready, t, None if all_ready else "ContainersNotReady"),
            _cond("PodScheduled", True, t),
        ],
        "containerStatuses": [_container_status(c) for c in v.containers],
    }
    if v.pod_ip:
        status["podIP"] = v.pod_ip
        status["podIPs"] = [{"ip": v.pod_ip}]
    return status


def same_status(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    """Equal but for lastTransitionTime (kept from the stored status when nothing flipped)."""
    def strip(s: dict[str, Any] | None) -> Any:
        if not s:
            return None
        out = dict(s)
        out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                             for c in s.get("conditions") or []]
        return out
    return bool(strip(a) == strip(b))
