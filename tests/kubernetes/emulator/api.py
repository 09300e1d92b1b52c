"""The emulated API's vocabulary: resources and their paths, Status errors, quantities, selectors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Obj = dict[str, Any]

TOKEN = "emulator-token"  # the one bearer token the emulator takes
Validator = Callable[[Obj], list[str]]


@dataclass(frozen=True)
class Resource:
    group_version: str  # "v1", "apps/v1" …
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.group_version.rpartition("/")[0]

    @property
    def qualified(self) -> str:
        """How the API server names the resource in messages: ``deployments.apps``, ``pods``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES = [
    Resource("v1", "namespaces", "Namespace", namespaced=False),
    Resource("v1", "resourcequotas", "ResourceQuota"),
    Resource("v1", "limitranges", "LimitRange"),
    Resource("v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    Resource("v1", "configmaps", "ConfigMap"),
    Resource("v1", "pods", "Pod"),
    Resource("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy"),
    Resource("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    Resource("apps/v1", "deployments", "Deployment"),
    Resource("storage.k8s.io/v1", "storageclasses", "StorageClass", namespaced=False),
    Resource("kubevirt.io/v1", "virtualmachines", "VirtualMachine"),
    Resource("kubevirt.io/v1", "virtualmachineinstances", "VirtualMachineInstance"),
    Resource("cdi.kubevirt.io/v1beta1", "datavolumes", "DataVolume"),
]
BY_PATH = {(r.group_version, r.plural): r for r in RESOURCES}
BY_KIND = {r.kind: r for r in RESOURCES}
WITH_STATUS = {"Namespace", "ResourceQuota", "PersistentVolumeClaim", "Pod", "Deployment"} | {
    "VirtualMachine",
    "VirtualMachineInstance",
    "DataVolume",
}
# Kinds whose DELETE answers with the object (as their registries do), not with a Status.
RETURN_DELETED = {"Namespace", "PersistentVolumeClaim", "Pod", "ResourceQuota", "VirtualMachine"} | {
    "VirtualMachineInstance",
    "DataVolume",
}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
        if details is not None:
            self.status["details"] = details


def details_of(resource: Resource, name: str) -> Obj:
    details = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource.qualified} "{name}" not found', details_of(resource, name))


def forbidden(resource: Resource, name: str, why: str) -> ApiError:
    return ApiError(
        403, "Forbidden", f'{resource.qualified} "{name}" is forbidden: {why}', details_of(resource, name)
    )


def invalid(resource: Resource, name: str, causes: list[str]) -> ApiError:
    kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    message = f'{kind} "{name}" is invalid: ' + (causes[0] if len(causes) == 1 else f"[{', '.join(causes)}]")
    details = {
        **details_of(resource, name),
        "kind": resource.kind,
        "causes": [{"message": c} for c in causes],
    }
    return ApiError(422, "Invalid", message, details)


def owned_by(obj: Obj) -> list[Obj]:
    """ownerReferences naming ``obj`` as the controller, as a controller sets them on what it makes."""
    meta = obj["metadata"]
    return [
        {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def format_quantity(value: Decimal, like: str) -> str:
    """A quantity the way the API server prints one: in the binary suffixes when ``like`` used them,
    with the largest suffix that keeps it whole; milli-units for fractions."""
    if value != value.to_integral_value():
        return f"{int(value * 1000)}m"
    whole = int(value)
    if any(like.endswith(suffix) for suffix in BINARY):
        for suffix, power in sorted(BINARY.items(), key=lambda item: -item[1]):
            if whole and whole % (1024**power) == 0:
                return f"{whole // 1024**power}{suffix}"
    return str(whole)


# --- label selectors ---------------------------------------------------------------------------------


def _requirements(selector: str) -> Iterator[str]:
    depth, start = 0, 0
    for i, char in enumerate(selector):
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            yield selector[start:i].strip()
            start = i + 1
    if selector[start:].strip():
        yield selector[start:].strip()


def matches(selector: str, labels: dict[str, str]) -> bool:
    for requirement in _requirements(selector):
        set_based = re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", requirement)
        if set_based:
            key, op, values = set_based.groups()
            allowed = {v.strip() for v in values.split(",")}
            if (op == "in") != (labels.get(key) in allowed):
                return False
        elif "!=" in requirement:
            key, value = requirement.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in requirement:
            key, value = requirement.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif requirement.startswith("!"):
            if requirement[1:].strip() in labels:
                return False
        elif requirement not in labels:
            return False
    return True
