"""Servers (KubeVirt VirtualMachines or Deployments), volumes (PVCs) and bandwidth (CNI annotations),
each found again by its name ``cs-<request>-<index>`` and labelled with its request."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from provisioners.base import (
    BandwidthSpec,
    Kind,
    Observed,
    PermanentError,
    ResourceKey,
    ServerSpec,
    State,
    VolumeSpec,
)
from provisioners.kubernetes import objects
from provisioners.kubernetes.api import Kube, Obj
from provisioners.kubernetes.settings import KubernetesSettings

# KubeVirt's printableStatus values that will not get better by waiting.
VM_FAILED = {
    "CrashLoopBackOff",
    "ErrorUnschedulable",
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrorPvcNotFound",
    "ErrorDataVolumeNotFound",
    "DataVolumeError",
}
# How KubeVirt says that the cluster refused what a VM needs. The VMI controller's failure to create the
# virt-launcher pod is the instance's Synchronized=False/FailedCreate, copied onto the VM; since KubeVirt
# 1.4 the VM controller's failure to get its DataVolumes' claims is Failure=True/FailedCreate. KubeVirt
# retries both for ever and the VM says only "Starting" or "Provisioning"; a refusal by admission (the
# ResourceQuota, a LimitRange, PodSecurity: "… is forbidden: …") does not heal by waiting.
REFUSED = {("Synchronized", "False"), ("Failure", "True")}
SERVER_KINDS = {"vm": "VirtualMachine", "container": "Deployment"}
SERVER_SELECTOR = f"{objects.KIND}=server"
BANDWIDTH_SELECTOR = f"{objects.KIND}=bandwidth"


def _mine(obj: Obj, key: ResourceKey) -> Obj:
    labels = obj["metadata"].get("labels") or {}
    if labels.get(objects.REQUEST) != key.request_id or labels.get(objects.INDEX) != str(key.index):
        raise PermanentError(
            f"{obj.get('kind', 'an object')} {key.name} exists but is not labelled as request "
            f"{key.request_id}'s; it was not made by cloudsvc and is left alone"
        )
    return obj


def refusal(conditions: list[Obj]) -> str | None:
    """The API server's refusal that KubeVirt reports in a VM's conditions, if it reports one."""
    for condition in conditions:
        message = str(condition.get("message") or "")
        if (
            (condition.get("type"), condition.get("status")) in REFUSED
            and condition.get("reason") == "FailedCreate"
            and " is forbidden: " in message
        ):
            return message
    return None


def _message(conditions: list[Obj], *types: str) -> str | None:
    for condition in conditions:
        if condition.get("type") in types and condition.get("message"):
            return str(condition["message"])
    return None


# --- servers -----------------------------------------------------------------------------------------


def current_bandwidth(kube: Kube, ns: str) -> dict[str, str]:
    """The annotations the department's bandwidth limit puts on its workloads (none: empty)."""
    record = oldest(kube.list("ConfigMap", ns, BANDWIDTH_SELECTOR))
    if record is None:
        return {}
    data = record.get("data") or {}
    spec = BandwidthSpec(mbps=int(data.get("mbps", "0")), direction=str(data.get("direction", "both")))
    return objects.bandwidth_annotations(key_of(record), spec)


def create_server(
    kube: Kube, ns: str, key: ResourceKey, spec: ServerSpec, settings: KubernetesSettings
) -> Observed:
    bandwidth = current_bandwidth(kube, ns)
    if settings.workload == "vm":
        body = objects.virtual_machine(ns, key, spec, settings, bandwidth)
    else:
        body = objects.deployment(ns, key, spec, settings, bandwidth)
    kube.create(body)  # None: it exists already (a crash after the POST), observed below
    return observe_server(kube, ns, key, settings)


def observe_server(kube: Kube, ns: str, key: ResourceKey, settings: KubernetesSettings) -> Observed:
    kind = SERVER_KINDS[settings.workload]
    found = kube.get(kind, key.name, ns)
    if found is None:
        return Observed.absent()
    obj = _mine(found, key)
    if obj["metadata"].get("deletionTimestamp"):
        return Observed(State.deleting, obj["metadata"].get("uid"))
    if kind == "VirtualMachine":
        return _observed_vm(kube, ns, key, obj)
    return _observed_deployment(kube, ns, key, obj)


def import_problem(data_volume: Obj) -> str | None:
    """Why CDI cannot fill a DataVolume, in its words (None while it fills or has filled it): its claim
    refused by the quota (CDI keeps it Pending, Bound=Unknown/ErrExceededQuota, retrying for ever), the
    import failed, or its importer stopped on an error (what KubeVirt shows as DataVolumeError)."""
    status = data_volume.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    bound, running = conditions.get("Bound") or {}, conditions.get("Running") or {}
    if bound.get("reason") == "ErrExceededQuota" and bound.get("status") != "True":
        return str(bound.get("message") or "ErrExceededQuota")
    stopped = running.get("status") == "False" and running.get("reason") in ("Error", "ImagePullFailed")
    if status.get("phase") == "Failed" or stopped:
        return str(running.get("message") or running.get("reason") or "the import failed")
    return None


def _root_disks(kube: Kube, ns: str, vm: Obj) -> list[Obj]:
    """The DataVolumes KubeVirt makes of the VM's templates, those it has made so far."""
    names = [t["metadata"]["name"] for t in vm["spec"].get("dataVolumeTemplates") or []]
    return [found for name in names if (found := kube.get("DataVolume", name, ns)) is not None]


def _observed_vm(kube: Kube, ns: str, key: ResourceKey, vm: Obj) -> Observed:
    status = vm.get("status") or {}
    printable = str(status.get("printableStatus") or "")
    details: dict[str, Any] = {"kind": "VirtualMachine", "namespace": ns, "status": printable}
    uid = vm["metadata"].get("uid")
    ready = bool(status.get("ready")) and printable == "Running"
    # The root disk's import, read only while the VM is not up: it says how far it is, and KubeVirt's
    # VM says too little about an import that will not finish (DataVolumeError, or nothing at all).
    for disk in [] if ready else _root_disks(kube, ns, vm):
        disk_status = disk.get("status") or {}
        details["root_disk"] = {
            "name": disk["metadata"]["name"],
            "phase": disk_status.get("phase") or "Pending",
            "progress": disk_status.get("progress"),
        }
        problem = import_problem(disk)
        if problem is not None:
            message = f"CDI: DataVolume {disk['metadata']['name']}: {problem}"
            return Observed(State.failed, uid, message=message, details=details)
    if printable in VM_FAILED:
        message = _message(status.get("conditions") or [], "Failure", "Ready") or printable
        return Observed(State.failed, uid, message=f"KubeVirt: {printable}: {message}", details=details)
    refused = refusal(status.get("conditions") or [])
    if refused is not None:
        return Observed(State.failed, uid, message=f"KubeVirt: {refused}", details=details)
    if not ready:
        return Observed(State.building, uid, details=details)
    vmi = kube.get("VirtualMachineInstance", key.name, ns) or {}
    addresses = tuple(
        address
        for interface in (vmi.get("status") or {}).get("interfaces") or []
        for address in interface.get("ipAddresses") or [interface.get("ipAddress")]
        if address
    )
    return Observed(State.ready, uid, addresses=addresses, details=details)


def _observed_deployment(kube: Kube, ns: str, key: ResourceKey, deployment: Obj) -> Observed:
    status = deployment.get("status") or {}
    conditions = status.get("conditions") or []
    uid = deployment["metadata"].get("uid")
    details: dict[str, Any] = {"kind": "Deployment", "namespace": ns, "ready": status.get("readyReplicas", 0)}
    for condition in conditions:
        stuck = (
            condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded"
        )
        refused = condition.get("type") == "ReplicaFailure" and condition.get("status") == "True"
        if stuck or refused:
            message = condition.get("message") or condition.get("reason")
            return Observed(State.failed, uid, message=f"Deployment: {message}", details=details)
    if not status.get("readyReplicas"):
        return Observed(State.building, uid, details=details)
    pods = kube.list("Pod", ns, objects.request_selector(key))
    addresses = tuple(str(pod["status"]["podIP"]) for pod in pods if (pod.get("status") or {}).get("podIP"))
    return Observed(State.ready, uid, addresses=addresses, details=details)


def delete_server(kube: Kube, ns: str, key: ResourceKey, settings: KubernetesSettings) -> None:
    kind = SERVER_KINDS[settings.workload]
    found = kube.get(kind, key.name, ns)
    if found is not None and not found["metadata"].get("deletionTimestamp"):
        _mine(found, key)
        kube.delete(kind, key.name, ns)


# --- volumes -----------------------------------------------------------------------------------------


def storage_class(settings: KubernetesSettings, volume_type: str) -> str | None:
    if volume_type not in settings.storage_classes:
        offered = ", ".join(sorted(settings.storage_classes))
        raise PermanentError(
            f"the zone has no storage class for volume type {volume_type!r} (it offers {offered})"
        )
    return settings.storage_classes[volume_type]


def create_volume(
    kube: Kube, ns: str, key: ResourceKey, spec: VolumeSpec, settings: KubernetesSettings
) -> Observed:
    body = objects.persistent_volume_claim(ns, key, spec, storage_class(settings, spec.volume_type))
    kube.create(body)
    return observe_volume(kube, ns, key)


def observe_volume(kube: Kube, ns: str, key: ResourceKey) -> Observed:
    found = kube.get("PersistentVolumeClaim", key.name, ns)
    if found is None:
        return Observed.absent()
    claim = _mine(found, key)
    uid = claim["metadata"].get("uid")
    spec, status = claim.get("spec") or {}, claim.get("status") or {}
    phase = status.get("phase") or "Pending"
    details: dict[str, Any] = {
        "namespace": ns,
        "phase": phase,
        "storage_class": spec.get("storageClassName"),
        "size": ((spec.get("resources") or {}).get("requests") or {}).get("storage"),
    }
    if claim["metadata"].get("deletionTimestamp"):
        return Observed(State.deleting, uid, details=details)
    if phase == "Bound":
        return Observed(State.ready, uid, details=details)
    if phase == "Lost":
        return Observed(State.failed, uid, message="the claim's PersistentVolume is lost", details=details)
    class_name = spec.get("storageClassName")
    storage = kube.get("StorageClass", class_name) if class_name else None
    if storage is not None and storage.get("volumeBindingMode") == "WaitForFirstConsumer":
        # Such a class provisions only when a pod first uses the claim: Pending is all it will be till then.
        return Observed(State.ready, uid, details={**details, "binds_on_first_use": True})
    return Observed(State.building, uid, details=details)


def delete_volume(kube: Kube, ns: str, key: ResourceKey) -> None:
    found = kube.get("PersistentVolumeClaim", key.name, ns)
    if found is not None and not found["metadata"].get("deletionTimestamp"):
        _mine(found, key)
        kube.delete("PersistentVolumeClaim", key.name, ns)


# --- bandwidth ---------------------------------------------------------------------------------------


def key_of(obj: Obj) -> ResourceKey:
    labels = obj["metadata"].get("labels") or {}
    return ResourceKey(labels[objects.REQUEST], int(labels[objects.INDEX]), Kind(labels[objects.KIND]))


def oldest(items: list[Obj]) -> Obj | None:
    """Two workers racing can each create a record; all then settle on the same (oldest) one."""
    ordered = sorted(
        items, key=lambda o: (str(o["metadata"].get("creationTimestamp") or ""), o["metadata"]["name"])
    )
    return ordered[0] if ordered else None


def _annotated(
    template_annotations: Mapping[str, str], wanted: Mapping[str, str], owner: str
) -> dict[str, str]:
    """A workload's template annotations with this limit's set (or, with ``wanted`` empty, removed)."""
    kept = {
        k: v
        for k, v in template_annotations.items()
        if k not in (objects.INGRESS, objects.EGRESS, objects.BANDWIDTH)
        or template_annotations.get(objects.BANDWIDTH) not in (None, owner)
    }
    return {**kept, **wanted}


def _workloads(kube: Kube, ns: str, settings: KubernetesSettings) -> list[Obj]:
    return kube.list(SERVER_KINDS[settings.workload], ns, SERVER_SELECTOR)


def _apply(kube: Kube, ns: str, settings: KubernetesSettings, wanted: Mapping[str, str], owner: str) -> None:
    for workload in _workloads(kube, ns, settings):
        template = workload["spec"]["template"]
        current = (template.get("metadata") or {}).get("annotations") or {}
        annotated = _annotated(current, wanted, owner)
        if annotated != current:
            body = copy.deepcopy(workload)
            body["spec"]["template"].setdefault("metadata", {})["annotations"] = annotated
            # It carries the resourceVersion read: a 409 Conflict is retried afresh. A workload deleted
            # since the list (its own request being decommissioned beside this one) needs no annotation.
            kube.replace_if_present(body)


def _blocker(kube: Kube, ns: str, key: ResourceKey) -> Obj | None:
    first = oldest(kube.list("ConfigMap", ns, BANDWIDTH_SELECTOR))
    return first if first is not None and first["metadata"]["name"] != key.name else None


def create_bandwidth(
    kube: Kube, ns: str, key: ResourceKey, spec: BandwidthSpec, settings: KubernetesSettings
) -> Observed:
    if spec.direction not in objects.DIRECTIONS:
        raise PermanentError(f"bandwidth direction must be ingress, egress or both, not {spec.direction!r}")
    if kube.get("ConfigMap", key.name, ns) is None:
        blocker = _blocker(kube, ns, key)
        if blocker is not None:
            raise PermanentError(
                f"the department already has bandwidth limit {blocker['metadata']['name']}; "
                "delete it first (one limit per namespace)"
            )
        kube.create(objects.bandwidth_record(ns, key, spec))
    if _blocker(kube, ns, key) is None:
        _apply(kube, ns, settings, objects.bandwidth_annotations(key, spec), key.name)
    return observe_bandwidth(kube, ns, key, settings)


def observe_bandwidth(kube: Kube, ns: str, key: ResourceKey, settings: KubernetesSettings) -> Observed:
    found = kube.get("ConfigMap", key.name, ns)
    if found is None:
        return Observed.absent()
    record = _mine(found, key)
    uid = record["metadata"].get("uid")
    blocker = _blocker(kube, ns, key)
    if blocker is not None:
        message = (
            f"the department already has bandwidth limit {blocker['metadata']['name']}; one per namespace"
        )
        return Observed(State.failed, uid, message=message, details={"namespace": ns})
    data = record.get("data") or {}
    wanted = objects.bandwidth_annotations(
        key, BandwidthSpec(int(data.get("mbps", "0")), str(data.get("direction", "both")))
    )
    workloads = _workloads(kube, ns, settings)
    pending = [
        w["metadata"]["name"]
        for w in workloads
        if any(
            ((w["spec"]["template"].get("metadata") or {}).get("annotations") or {}).get(k) != v
            for k, v in wanted.items()
        )
    ]
    details = {"namespace": ns, "annotations": wanted, "workloads": len(workloads), "pending": pending}
    return Observed(State.building if pending else State.ready, uid, details=details)


def delete_bandwidth(kube: Kube, ns: str, key: ResourceKey, settings: KubernetesSettings) -> None:
    found = kube.get("ConfigMap", key.name, ns)
    if found is None:
        return
    _mine(found, key)
    _apply(kube, ns, settings, {}, key.name)
    kube.delete("ConfigMap", key.name, ns)
