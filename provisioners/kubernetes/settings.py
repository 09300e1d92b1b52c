"""A zone's Kubernetes settings, checked field by field when the zone is registered (nothing is contacted).

kubeconfig        path of a kubeconfig file          } exactly one of the two
in_cluster        true: the worker's service account }
context           a context of the kubeconfig (default: its current-context)
workload          "vm" (KubeVirt VirtualMachines, the default) or "container" (Deployments)
root_disk         vm mode: "containerDisk" (default: the image boots from a registry, nothing to store)
                  or "dataVolume" (CDI imports the image into a PVC of disk_gb, which lives on with the VM)
images            cloudsvc image name → container image (a containerDisk or the container to run);
                  a name the map lacks is used as the image reference itself
image_source      dataVolume mode: "registry" (the image reference is pulled with docker://) or "http"
storage_classes   cloudsvc volume type → StorageClass name, or null for the cluster's default class
root_storage_class  dataVolume mode: the StorageClass of root disks (null: the cluster's default)
department_role   the ClusterRole bound to a department's group in its namespace (default "edit")
group_prefix      the department's group is <group_prefix><code> (default "cloudsvc:dept:")
namespace_prefix  a department's namespace is <prefix><code> (default "dept-"; give each zone sharing
                  a cluster its own prefix)
timeout, retry_attempts, retry_max_seconds   per API call, as for the OpenStack driver
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioners.base import InvalidSettings

KNOWN = {
    "kubeconfig",
    "context",
    "in_cluster",
    "workload",
    "root_disk",
    "images",
    "image_source",
    "storage_classes",
    "root_storage_class",
    "vm_memory_overhead_mb",
    "department_role",
    "group_prefix",
    "namespace_prefix",
    "timeout",
    "retry_attempts",
    "retry_max_seconds",
}
WORKLOADS = ("vm", "container")
ROOT_DISKS = ("containerDisk", "dataVolume")
IMAGE_SOURCES = ("registry", "http")
# A DNS-1123 subdomain: what StorageClass and ClusterRole names must be.
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
NAMESPACE_PREFIX = re.compile(r"^[a-z]([-a-z0-9]{0,14})$")


@dataclass(frozen=True)
class KubernetesSettings:
    kubeconfig: str | None
    context: str | None
    in_cluster: bool
    workload: str = "vm"
    root_disk: str = "containerDisk"
    images: Mapping[str, str] = field(default_factory=dict)
    image_source: str = "registry"
    storage_classes: Mapping[str, str | None] = field(default_factory=lambda: {"standard": None})
    root_storage_class: str | None = None
    vm_memory_overhead_mb: int = 320
    department_role: str = "edit"
    group_prefix: str = "cloudsvc:dept:"
    namespace_prefix: str = "dept-"
    timeout: float = 30.0
    retry_attempts: int = 4
    retry_max_seconds: float = 20.0

    def image(self, name: str) -> str:
        return self.images.get(name, name)


def _text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidSettings(f"{name} must be a non-empty string", field=name)
    return value


def _choice(raw: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = raw.get(name, choices[0])
    if value not in choices:
        raise InvalidSettings(f"{name} must be one of {', '.join(choices)}, not {value!r}", field=name)
    return str(value)


def _number(raw: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidSettings(f"{name} must be a number from {low} to {high}", field=name)
    return float(value)


def _class_name(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 253 or not DNS_SUBDOMAIN.match(value):
        raise InvalidSettings(f"{name}: {value!r} is not a valid Kubernetes object name", field=name)
    return value


def _storage_classes(raw: Mapping[str, Any]) -> dict[str, str | None]:
    value = raw.get("storage_classes", {"standard": None})
    if not isinstance(value, Mapping) or not value or not all(isinstance(k, str) and k for k in value):
        raise InvalidSettings(
            "storage_classes must map cloudsvc volume types to StorageClass names (or null for the default)",
            field="storage_classes",
        )
    return {k: _class_name(v, f"storage_classes.{k}") for k, v in value.items()}


def _images(raw: Mapping[str, Any]) -> dict[str, str]:
    value = raw.get("images", {})
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v.strip() for k, v in value.items()
    ):
        raise InvalidSettings("images must map cloudsvc image names to image references", field="images")
    return dict(value)


def _source(raw: Mapping[str, Any]) -> tuple[str | None, str | None, bool]:
    kubeconfig = _text(raw, "kubeconfig")
    context = _text(raw, "context")
    in_cluster = raw.get("in_cluster", False)
    if not isinstance(in_cluster, bool):
        raise InvalidSettings("in_cluster must be true or false", field="in_cluster")
    if in_cluster and kubeconfig is not None:
        raise InvalidSettings("give either kubeconfig or in_cluster, not both", field="in_cluster")
    if not in_cluster and kubeconfig is None:
        raise InvalidSettings("either kubeconfig (a file path) or in_cluster is required", field="kubeconfig")
    if in_cluster and context is not None:
        raise InvalidSettings("context only goes with kubeconfig", field="context")
    if kubeconfig is not None and not os.path.isfile(kubeconfig):
        raise InvalidSettings(f"kubeconfig {kubeconfig!r} is not a readable file", field="kubeconfig")
    return kubeconfig, context, in_cluster


def parse_settings(raw: Mapping[str, Any]) -> KubernetesSettings:
    """Validate ``raw``; ``InvalidSettings`` names the first bad field."""
    if not isinstance(raw, Mapping):
        raise InvalidSettings("settings must be a mapping", field="settings")
    for key in raw:
        if key not in KNOWN:
            raise InvalidSettings(f"unknown setting {key!r}", field=str(key))
    kubeconfig, context, in_cluster = _source(raw)
    workload = _choice(raw, "workload", WORKLOADS)
    root_disk = _choice(raw, "root_disk", ROOT_DISKS)
    if workload == "container" and "root_disk" in raw:
        raise InvalidSettings("root_disk only goes with workload vm", field="root_disk")
    prefix = raw.get("namespace_prefix", "dept-")
    if not isinstance(prefix, str) or not NAMESPACE_PREFIX.match(prefix):
        raise InvalidSettings(
            "namespace_prefix must be 1 to 15 lowercase letters, digits or '-', starting with a letter",
            field="namespace_prefix",
        )
    role = _class_name(raw.get("department_role", "edit"), "department_role")
    if role is None:
        raise InvalidSettings("department_role must name a ClusterRole", field="department_role")
    return KubernetesSettings(
        kubeconfig=kubeconfig,
        context=context,
        in_cluster=in_cluster,
        workload=workload,
        root_disk=root_disk,
        images=_images(raw),
        image_source=_choice(raw, "image_source", IMAGE_SOURCES),
        storage_classes=_storage_classes(raw),
        root_storage_class=_class_name(raw.get("root_storage_class"), "root_storage_class"),
        vm_memory_overhead_mb=int(_number(raw, "vm_memory_overhead_mb", 320, 0, 65536)),
        department_role=role,
        group_prefix=_text(raw, "group_prefix") or "cloudsvc:dept:",
        namespace_prefix=prefix,
        timeout=_number(raw, "timeout", 30.0, 0.5, 600),
        retry_attempts=int(_number(raw, "retry_attempts", 4, 1, 20)),
        retry_max_seconds=_number(raw, "retry_max_seconds", 20.0, 0, 600),
    )
