"""The objects the driver sends, built as plain dicts (exactly what goes over the wire).

Pure functions, no client: the tests validate every one of them against the official OpenAPI schemas
(and VirtualMachines against KubeVirt's CRD schema).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from provisioners.base import BandwidthSpec, ResourceKey, ServerSpec, Tenancy, VolumeSpec
from provisioners.kubernetes.settings import KubernetesSettings

Obj = dict[str, Any]

GROUP = "cloudsvc"  # label and annotation keys are cloudsvc/<name>
MANAGED_BY = {"app.kubernetes.io/managed-by": "cloudsvc"}
DEPARTMENT = f"{GROUP}/department"
REQUEST = f"{GROUP}/request"
INDEX = f"{GROUP}/index"
KIND = f"{GROUP}/kind"
DEPARTMENT_CODE = f"{GROUP}/department-code"  # annotation: the whole code, whatever the label had to do
BANDWIDTH = f"{GROUP}/bandwidth"  # annotation on workloads: which bandwidth request set their limits
INGRESS = "kubernetes.io/ingress-bandwidth"
EGRESS = "kubernetes.io/egress-bandwidth"
DIRECTIONS = {"ingress": (INGRESS,), "egress": (EGRESS,), "both": (INGRESS, EGRESS)}
QUOTA_NAME = "cloudsvc-quota"
LIMITS_NAME = "cloudsvc-defaults"
DENY_ALL = "cloudsvc-default-deny"
ALLOW_NAMESPACE = "cloudsvc-allow-same-namespace"
ROLE_BINDING = "cloudsvc-department"
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NAME_CHARS = re.compile(r"[^a-z0-9-]")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def label_value(text: str) -> str:
    """``text`` if Kubernetes takes it as a label value, else a cut of it with a digest of the whole."""
    if len(text) <= 63 and LABEL_VALUE.match(text):
        return text
    cut = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:50].strip("-_.")
    return f"{cut}-{_digest(text)}" if cut else f"x-{_digest(text)}"


def namespace_name(prefix: str, code: str) -> str:
    """``<prefix><code>`` as a DNS label. Codes allow capitals, '_' and '.', a namespace does not: a code
    that had to change gets a digest of itself, so that ``AB`` and ``ab`` never share a namespace."""
    cleaned = NAME_CHARS.sub("-", code.lower())
    name = f"{prefix}{cleaned}"
    if cleaned == code and len(name) <= 63 and not name.endswith("-"):
        return name
    return f"{name[: 63 - 9].rstrip('-')}-{_digest(code)}"


def department_labels(tenancy: Tenancy) -> dict[str, str]:
    labels = {**MANAGED_BY, DEPARTMENT: label_value(tenancy.department_code)}
    labels[f"{GROUP}/level"] = label_value(tenancy.level)
    labels[f"{GROUP}/classification"] = label_value(tenancy.classification or "unspecified")
    labels[f"{GROUP}/mlps-level"] = str(tenancy.mlps_level) if tenancy.mlps_level is not None else "none"
    return labels


def key_labels(key: ResourceKey) -> dict[str, str]:
    return {**MANAGED_BY, REQUEST: key.request_id, INDEX: str(key.index), KIND: key.kind.value}


def request_selector(key: ResourceKey) -> str:
    return f"{REQUEST}={key.request_id},{INDEX}={key.index},{KIND}={key.kind.value}"


def _meta(name: str, namespace: str | None, labels: Mapping[str, str], **extra: Any) -> Obj:
    meta: Obj = {"name": name, "labels": dict(labels), **extra}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


# --- tenancy -----------------------------------------------------------------------------------------


def namespace(name: str, tenancy: Tenancy) -> Obj:
    annotations = {
        DEPARTMENT_CODE: tenancy.department_code,
        f"{GROUP}/department-name": tenancy.department_name,
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(name, None, department_labels(tenancy), annotations=annotations),
    }


def quota_hard(limits: Mapping[str, int | None], settings: KubernetesSettings) -> dict[str, str]:
    """cloudsvc's quota as a ResourceQuota's ``hard``; a class without a limit of its own is left out.

    cpu and memory are capped on requests and limits alike (the LimitRange makes every container state
    both); in vm mode memory allows each server KubeVirt's launcher overhead too. Servers count as
    VirtualMachines or Deployments; root disks on DataVolumes are PVCs too, so the PVC count allows one
    per server on top of the volumes (cloudsvc counts root disks in volume_gb as well, so
    requests.storage needs nothing added).
    """
    hard: dict[str, str] = {}
    servers = limits.get("servers")
    if (vcpus := limits.get("vcpus")) is not None:
        hard["requests.cpu"] = hard["limits.cpu"] = str(vcpus)
    if (ram := limits.get("ram_mb")) is not None:
        if settings.workload == "vm" and servers is not None:
            ram += servers * settings.vm_memory_overhead_mb  # the launcher pods' share beyond the guests'
        hard["requests.memory"] = hard["limits.memory"] = f"{ram}Mi"
    if (gb := limits.get("volume_gb")) is not None:
        hard["requests.storage"] = f"{gb}Gi"
    if servers is not None:
        counted = "virtualmachines.kubevirt.io" if settings.workload == "vm" else "deployments.apps"
        hard[f"count/{counted}"] = str(servers)
    if (volumes := limits.get("volumes")) is not None:
        root_pvcs = settings.workload == "vm" and settings.root_disk == "dataVolume"
        if not root_pvcs:
            hard["persistentvolumeclaims"] = str(volumes)
        elif servers is not None:
            hard["persistentvolumeclaims"] = str(volumes + servers)
    return hard


def resource_quota(ns: str, tenancy: Tenancy, settings: KubernetesSettings) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta(QUOTA_NAME, ns, MANAGED_BY),
        "spec": {"hard": quota_hard(tenancy.limits, settings)},
    }


def limit_range(ns: str) -> Obj:
    """Defaults for containers that state no resources (the quota refuses pods that do not), and a
    floor for claims so that nobody fills the quota's PVC count with 1-byte claims."""
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta(LIMITS_NAME, ns, MANAGED_BY),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "1", "memory": "1Gi"},
                    "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                },
                {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}},
            ]
        },
    }


def deny_all(ns: str) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(DENY_ALL, ns, MANAGED_BY),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def allow_same_namespace(ns: str) -> Obj:
    """Pods of the department talk to each other, and to the cluster's DNS; nothing else by default."""
    dns_ports = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    kube_system = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(ALLOW_NAMESPACE, ns, MANAGED_BY),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
            "egress": [{"to": [{"podSelector": {}}]}, {"to": [kube_system], "ports": dns_ports}],
        },
    }


def role_binding(ns: str, tenancy: Tenancy, settings: KubernetesSettings) -> Obj:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(ROLE_BINDING, ns, MANAGED_BY),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": settings.department_role,
        },
        "subjects": [
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Group",
                "name": f"{settings.group_prefix}{tenancy.department_code}",
            }
        ],
    }


def tenancy_objects(ns: str, tenancy: Tenancy, settings: KubernetesSettings) -> list[Obj]:
    """Everything in the namespace that makes it the department's, in the order it is made."""
    return [
        resource_quota(ns, tenancy, settings),
        limit_range(ns),
        deny_all(ns),
        allow_same_namespace(ns),
        role_binding(ns, tenancy, settings),
    ]


# --- servers -----------------------------------------------------------------------------------------


def _resources(spec: ServerSpec) -> Obj:
    amounts = {"cpu": str(spec.vcpus), "memory": f"{spec.ram_mb}Mi"}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def virtual_machine(
    ns: str, key: ResourceKey, spec: ServerSpec, settings: KubernetesSettings, bandwidth: Mapping[str, str]
) -> Obj:
    """A KubeVirt VM that runs always, with explicit cpu and memory, booting the requested image."""
    image = settings.image(spec.image)
    root: Obj = {"name": "root"}
    data_volume_templates: list[Obj] = []
    if settings.root_disk == "containerDisk":
        root["containerDisk"] = {"image": image}
    else:
        source = (
            {"registry": {"url": f"docker://{image}"}}
            if settings.image_source == "registry"
            else {"http": {"url": image}}
        )
        storage: Obj = {"resources": {"requests": {"storage": f"{spec.disk_gb}Gi"}}}
        if settings.root_storage_class is not None:
            storage["storageClassName"] = settings.root_storage_class
        data_volume_templates.append(
            {
                "metadata": {"name": f"{key.name}-root", "labels": key_labels(key)},
                "spec": {"source": source, "storage": storage},
            }
        )
        root["dataVolume"] = {"name": f"{key.name}-root"}
    vm_spec: Obj = {
        "runStrategy": "Always",
        "template": {
            "metadata": {"labels": key_labels(key), "annotations": dict(bandwidth)},
            "spec": {
                "domain": {
                    "cpu": {"cores": spec.vcpus, "sockets": 1, "threads": 1},
                    "memory": {"guest": f"{spec.ram_mb}Mi"},
                    "resources": _resources(spec),
                    "devices": {
                        "disks": [{"name": "root", "disk": {"bus": "virtio"}}],
                        "interfaces": [{"name": "default", "masquerade": {}}],
                    },
                },
                "networks": [{"name": "default", "pod": {}}],
                "volumes": [root],
            },
        },
    }
    if data_volume_templates:
        vm_spec["dataVolumeTemplates"] = data_volume_templates
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": _meta(key.name, ns, key_labels(key)),
        "spec": vm_spec,
    }


def deployment(
    ns: str, key: ResourceKey, spec: ServerSpec, settings: KubernetesSettings, bandwidth: Mapping[str, str]
) -> Obj:
    """One replica of the requested image; its ephemeral storage is capped at the server's disk size."""
    selector = {REQUEST: key.request_id, INDEX: str(key.index), KIND: key.kind.value}
    resources = _resources(spec)
    resources["requests"]["ephemeral-storage"] = resources["limits"]["ephemeral-storage"] = (
        f"{spec.disk_gb}Gi"
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(key.name, ns, key_labels(key)),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": key_labels(key), "annotations": dict(bandwidth)},
                "spec": {
                    "containers": [
                        {"name": "server", "image": settings.image(spec.image), "resources": resources}
                    ],
                },
            },
        },
    }


# --- volumes and bandwidth ---------------------------------------------------------------------------


def persistent_volume_claim(ns: str, key: ResourceKey, spec: VolumeSpec, storage_class: str | None) -> Obj:
    body: Obj = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": f"{spec.size_gb}Gi"}},
    }
    if storage_class is not None:
        body["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(key.name, ns, key_labels(key)),
        "spec": body,
    }


def bandwidth_annotations(key: ResourceKey, spec: BandwidthSpec) -> dict[str, str]:
    """What the CNI bandwidth plugin reads from a pod: ``<n>M`` is n megabits per second."""
    annotations = dict.fromkeys(DIRECTIONS[spec.direction], f"{spec.mbps}M")
    annotations[BANDWIDTH] = key.name
    return annotations


def bandwidth_record(ns: str, key: ResourceKey, spec: BandwidthSpec) -> Obj:
    """The bandwidth request itself, kept in the namespace: the driver reads it back to annotate every
    workload of the department, those made later included."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(key.name, ns, key_labels(key)),
        "data": {"mbps": str(spec.mbps), "direction": spec.direction},
    }
