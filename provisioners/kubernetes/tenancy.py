"""A department's namespace and what makes it the department's: quota, defaults, network policy, access."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

from provisioners.base import PermanentError, TemporaryError, Tenancy
from provisioners.kubernetes import objects
from provisioners.kubernetes.api import Kube, Obj
from provisioners.kubernetes.settings import KubernetesSettings

# What of each kind the driver owns and brings back in line when it drifts.
OWNED = {
    "ResourceQuota": ("spec",),
    "LimitRange": ("spec",),
    "NetworkPolicy": ("spec",),
    "RoleBinding": ("roleRef", "subjects"),
}


def _quantities(hard: dict[str, Any]) -> dict[str, Decimal]:
    # The API server writes quantities back in canonical form ("8192Mi" comes back "8Gi").
    return {name: parse_quantity(value) for name, value in hard.items()}


def _differs(want: Obj, have: Obj) -> bool:
    labels = have["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in want["metadata"].get("labels", {}).items()):
        return True
    if want["kind"] == "ResourceQuota":
        return _quantities(want["spec"]["hard"]) != _quantities((have.get("spec") or {}).get("hard") or {})
    return any(want.get(part) != have.get(part) for part in OWNED[want["kind"]])


def converge(kube: Kube, want: Obj) -> Obj:
    """``want`` made to exist as it says, whatever exists under its name now."""
    meta = want["metadata"]
    have = kube.get(want["kind"], meta["name"], meta.get("namespace"))
    if have is None:
        created = kube.create(want)
        if created is not None:
            return created
        have = kube.get(want["kind"], meta["name"], meta.get("namespace"))
        if have is None:
            raise TemporaryError(f"{want['kind']} {meta['name']} exists and does not; try again")
    if not _differs(want, have):
        return have
    if want["kind"] == "RoleBinding" and want["roleRef"] != have.get("roleRef"):
        # roleRef cannot be changed in place.
        kube.delete("RoleBinding", meta["name"], meta["namespace"])
        return kube.create(want) or want
    body = copy.deepcopy(want)
    body["metadata"]["resourceVersion"] = have["metadata"]["resourceVersion"]
    body["metadata"]["labels"] = {**(have["metadata"].get("labels") or {}), **meta.get("labels", {})}
    return kube.replace(body)


def ensure_namespace(kube: Kube, name: str, tenancy: Tenancy) -> Obj:
    want = objects.namespace(name, tenancy)
    have = kube.get("Namespace", name) or kube.create(want) or kube.get("Namespace", name)
    if have is None:
        raise TemporaryError(f"namespace {name} exists and does not; try again")
    check_owner(have, tenancy.department_code)
    if (have.get("status") or {}).get("phase") == "Terminating":
        raise TemporaryError(f"namespace {name} is being deleted; it can be made again once it is gone")
    meta = have["metadata"]
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    want_meta = want["metadata"]
    if any(labels.get(k) != v for k, v in want_meta["labels"].items()) or any(
        annotations.get(k) != v for k, v in want_meta["annotations"].items()
    ):
        # cloudsvc is the record of what a department is: renamed or relabelled by hand, it is put back.
        body = copy.deepcopy(have)
        body["metadata"]["labels"] = {**labels, **want_meta["labels"]}
        body["metadata"]["annotations"] = {**annotations, **want_meta["annotations"]}
        have = kube.replace(body)
    return have


def check_owner(namespace: Obj, code: str) -> None:
    """Two codes never share a namespace name by design; one made by hand might, and is not touched."""
    owner = (namespace["metadata"].get("annotations") or {}).get(objects.DEPARTMENT_CODE)
    if owner != code:
        name = namespace["metadata"]["name"]
        raise PermanentError(
            f"namespace {name} exists but is not department {code}'s (its {objects.DEPARTMENT_CODE} "
            f"annotation is {owner!r}); rename it or give the zone another namespace_prefix"
        )


def ensure(kube: Kube, name: str, tenancy: Tenancy, settings: KubernetesSettings) -> dict[str, Any]:
    namespace = ensure_namespace(kube, name, tenancy)
    made = [converge(kube, want) for want in objects.tenancy_objects(name, tenancy, settings)]
    quota = next(obj for obj in made if obj["kind"] == "ResourceQuota") if made else {}
    return {
        "namespace": name,
        "uid": namespace["metadata"].get("uid"),
        "quota": (quota.get("spec") or {}).get("hard", {}),
        "objects": [f"{obj['kind']}/{obj['metadata']['name']}" for obj in made],
    }
