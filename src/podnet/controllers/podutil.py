"""Small readers and writers of object fields the controllers share.

Pod and node state (phase, Ready condition, terminating), conditions with
Kubernetes' transition-time rules, owner references, RFC 3339 times, and the
name suffixes of generated objects (random like Kubernetes, or derived from a
seed when the offline pipeline needs the same names on every run).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import random
from collections.abc import Callable, Iterable
from typing import Any

from podnet.api.kinds import Obj, name_of, namespace_of

# Kubernetes' alphabet for generated names (no vowels, no look-alikes).
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
SuffixFn = Callable[[str], str]


def random_suffix(_seed: str, length: int = 5) -> str:
    return "".join(random.choice(SUFFIX_ALPHABET) for _ in range(length))


def hashed_suffix(seed: str, length: int = 5) -> str:
    """A suffix that depends only on ``seed``: the same names on every offline run."""
    n = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    out: list[str] = []
    for _ in range(length):
        n, r = divmod(n, len(SUFFIX_ALPHABET))
        out.append(SUFFIX_ALPHABET[r])
    return "".join(out)


def generate_name(base: str, suffix: str) -> str:
    """``generateName`` semantics: the prefix is cut so the name stays within 63 chars."""
    return base[: 63 - len(suffix)] + suffix


def template_hash(template: Any, collision_count: int = 0) -> str:
    """A stable short hash of a pod template (the ``pod-template-hash`` label value)."""
    doc = json.dumps(template, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{doc}|{collision_count}".encode()).digest()
    n = int.from_bytes(digest[:5], "big")
    out: list[str] = []
    while n and len(out) < 10:
        n, r = divmod(n, len(SUFFIX_ALPHABET))
        out.append(SUFFIX_ALPHABET[r])
    return "".join(out) or SUFFIX_ALPHABET[0]


# -- time --


def parse_time(value: Any) -> float | None:
    if not value:
        return None
    try:
        text = str(value).replace("Z", "+00:00")
        dt = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    return dt.timestamp()


# -- conditions --


def conditions(obj: Obj) -> list[dict[str, Any]]:
    return list((obj.get("status") or {}).get("conditions") or [])


def condition(obj: Obj, ctype: str) -> dict[str, Any] | None:
    for c in conditions(obj):
        if c.get("type") == ctype:
            return dict(c)
    return None


def set_condition(status: dict[str, Any], cond: dict[str, Any], now: str) -> bool:
    """Put ``cond`` into ``status.conditions``; the transition time moves only when the
    status changes. Returns whether anything changed (ignoring heartbeat/probe times)."""
    conds: list[dict[str, Any]] = list(status.get("conditions") or [])
    for i, old in enumerate(conds):
        if old.get("type") != cond["type"]:
            continue
        new = {**old, **cond}
        if old.get("status") != cond.get("status"):
            new["lastTransitionTime"] = now
        else:
            new.setdefault("lastTransitionTime", old.get("lastTransitionTime") or now)
        if new == old:
            return False
        conds[i] = new
        status["conditions"] = conds
        return True
    conds.append({**cond, "lastTransitionTime": now})
    status["conditions"] = conds
    return True


# -- pods --


def is_terminating(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_terminal(pod: Obj) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def is_ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return bool(c and c.get("status") == "True")


def is_running_and_ready(pod: Obj) -> bool:
    return phase(pod) == "Running" and is_ready(pod) and not is_terminating(pod)


def is_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    if not is_ready(pod) or is_terminating(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return since is not None and since + min_ready_seconds <= now


def is_active(pod: Obj) -> bool:
    """Counted as a replica: not terminal and not being deleted."""
    return not is_terminal(pod) and not is_terminating(pod)


def pod_ip(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("podIP") or "")


def node_ready(node: Obj) -> bool:
    c = condition(node, "Ready")
    return bool(c and c.get("status") == "True")


# -- ownership --


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    """The controlling ownerReference (the object's own dict: read, do not modify)."""
    for r in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if r.get("controller"):
            return r  # type: ignore[no-any-return]
    return None


def owned_by(obj: Obj, owner: Obj) -> bool:
    r = controller_ref(obj)
    return bool(r and r.get("uid") == (owner.get("metadata") or {}).get("uid"))


def owner_reference(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": name_of(owner),
        "uid": (owner.get("metadata") or {}).get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def group_by_owner(objs: Iterable[Obj], kind: str) -> dict[str, list[Obj]]:
    """Objects keyed by the uid of their controlling owner of ``kind``."""
    out: dict[str, list[Obj]] = {}
    for o in objs:
        r = controller_ref(o)
        if r and r.get("kind") == kind:
            out.setdefault(str(r.get("uid")), []).append(o)
    return out


def sort_key(obj: Obj) -> tuple[str, str]:
    return namespace_of(obj), name_of(obj)


# -- template revisions (StatefulSet, DaemonSet) --

REVISION_LABEL = "controller-revision-hash"
REVISION_ANNOTATION = "podnet.io/template-revision"


def template_revision(owner: Obj, pods: Iterable[Obj]) -> tuple[str, bool]:
    """The revision label for ``owner``'s current pod template, and whether the
    ``podnet.io/template-revision`` annotation ("<template hash> <revision>") must be
    (re)written. An owner seen for the first time with pods or a status (say, from a
    dump of a real cluster) adopts the revision those carry instead of rolling them."""
    spec = owner.get("spec") or {}
    h = template_hash(spec.get("template") or {})
    ann = ((owner.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION, "")
    have_hash, _, have_rev = str(ann).partition(" ")
    if have_hash == h and have_rev:
        return have_rev, False
    if not ann:
        seen = [str(((p.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL) or "")
                for p in pods]
        seen = [s for s in seen if s]
        status_rev = str((owner.get("status") or {}).get("updateRevision") or "")
        if status_rev:
            return status_rev, True
        if seen:
            return max(sorted(set(seen)), key=seen.count), True
    return f"{name_of(owner)}-{h}", True


def with_revision_annotation(owner: Obj, revision: str) -> Obj:
    out = dict(owner)
    out["metadata"] = dict(owner.get("metadata") or {})
    anns = dict(out["metadata"].get("annotations") or {})
    anns[REVISION_ANNOTATION] = f"{template_hash((owner.get('spec') or {}).get('template') or {})} {revision}"
    out["metadata"]["annotations"] = anns
    return out
