"""Static validation of Kubernetes objects, as the API server validates them.

``validate(obj)`` checks one (already defaulted) object and returns every
problem as a ``FieldError`` whose ``str()`` is Kubernetes' own message;
``validate_batch(objs)`` adds the checks that need the other objects of the
same apply (clusterIP / nodePort collisions). The per-kind rules live in
``validate_core``, ``validate_service``, ``validate_networking`` and
``validate_apps``.
"""

from __future__ import annotations

from collections.abc import Callable

from podnet.api.kinds import BY_KIND, Obj
from podnet.api.validate_apps import (
    validate_daemonset,
    validate_deployment,
    validate_replicaset,
    validate_statefulset,
)
from podnet.api.validate_common import Errs, FieldError, GoValue, ValidationContext
from podnet.api.validate_core import (
    validate_configmap,
    validate_metadata_only,
    validate_namespace,
    validate_node,
    validate_pod,
    validate_secret,
)
from podnet.api.validate_networking import (
    validate_ingress,
    validate_ingressclass,
    validate_networkpolicy,
)
from podnet.api.validate_service import (
    service_batch_errors,
    validate_endpointslice,
    validate_service,
)

__all__ = ["FieldError", "GoValue", "ValidationContext", "validate", "validate_batch"]

Validator = Callable[[Obj, Errs], None]

VALIDATORS: dict[str, Validator] = {
    "Namespace": validate_namespace,
    "Node": validate_node,
    "Pod": validate_pod,
    "ConfigMap": validate_configmap,
    "Secret": validate_secret,
    "Event": validate_metadata_only(True),
    "Lease": validate_metadata_only(True),
    "EndpointSlice": validate_endpointslice,
    "NetworkPolicy": validate_networkpolicy,
    "Ingress": validate_ingress,
    "IngressClass": validate_ingressclass,
    "Deployment": validate_deployment,
    "ReplicaSet": validate_replicaset,
    "StatefulSet": validate_statefulset,
    "DaemonSet": validate_daemonset,
}


def validate(obj: Obj, ctx: ValidationContext = ValidationContext()) -> list[FieldError]:
    """Every static problem of one object (call it after ``apply_defaults``)."""
    errs = Errs()
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        errs.required("kind")
        return list(errs)
    info = BY_KIND.get(kind)
    if info is None:
        errs.not_supported("kind", kind, sorted(BY_KIND))
        return list(errs)
    if obj.get("apiVersion") != info.api_version:
        errs.not_supported("apiVersion", obj.get("apiVersion"), (info.api_version,))
    if kind == "Service":
        validate_service(obj, ctx, errs)
    else:
        VALIDATORS[kind](obj, errs)
    return list(errs)


def validate_batch(objs: list[Obj], ctx: ValidationContext = ValidationContext()
                   ) -> dict[int, list[FieldError]]:
    """Cross-object problems of one apply, by index into ``objs`` (only failing indexes)."""
    return service_batch_errors(objs)
