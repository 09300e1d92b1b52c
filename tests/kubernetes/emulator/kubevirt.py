"""A stand-in for KubeVirt's virt-controller: NOT KUBEVIRT. It acts at once where KubeVirt's controllers
would act over seconds, and only in the ways the driver reads:

- a VirtualMachine that should run gets its VirtualMachineInstance, and the instance its virt-launcher
  pod (``virt-launcher-<vm>-`` by generateName), which goes through ResourceQuota admission like any pod:
  its ``compute`` container asks the VM's cpu and memory plus ``launcher_overhead_mb`` of memory, the
  single figure standing for the overhead KubeVirt computes per VM (virt-launcher, QEMU, page tables);
- a pod the quota refuses is reported as KubeVirt's VMI controller reports it: the instance stays
  Pending with ``Synchronized`` False, reason ``FailedCreate``, message ``failed to create virtual
  machine pod: <the API server's refusal>``, and the VM controller copies the instance's conditions onto
  the VM, whose printableStatus is ``Starting`` (kubevirt/kubevirt pkg/virt-controller/watch/vmi and
  /vm: sync, updateStatus, syncConditions, setPrintableStatus). KubeVirt retries for ever; here the pod
  is tried again whenever the VM is written;
- the instance's annotations (the template's) are copied onto the launcher pod, which is where the CNI
  bandwidth plugin reads them; a running instance is not changed when the VM's template changes (KubeVirt
  applies a new template at the next start);
- an image in ``broken_images`` makes the VM ``ErrImagePull`` before anything is made;
- a VM's ``dataVolumeTemplates`` become DataVolumes (owned by the VM, filled by ``cdi.py``); until all
  are ``Succeeded`` the VM has no instance and is ``Provisioning`` (``DataVolumeError`` when an import
  fails), and a claim refused by the quota adds KubeVirt 1.4's ``Failure``/``FailedCreate`` condition.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from kubernetes.utils import parse_quantity

from tests.kubernetes.emulator import cdi
from tests.kubernetes.emulator.api import BY_KIND, ApiError, Obj, owned_by

if TYPE_CHECKING:
    from tests.kubernetes.emulator.cluster import Cluster

LAUNCHER_IMAGE = "quay.io/kubevirt/virt-launcher:v1.4.0-emulated"
MIB = Decimal(1024**2)


def _condition(kind: str, status: str, reason: str | None = None, message: str | None = None) -> Obj:
    condition = {"type": kind, "status": status}
    if reason is not None and message is not None:
        condition.update(reason=reason, message=message)
    return condition


def _launcher_resources(template_spec: Obj, overhead_mb: int) -> Obj:
    wanted = (template_spec.get("domain") or {}).get("resources") or {}
    resources: Obj = {}
    for which in ("requests", "limits"):
        amounts = dict(wanted.get(which) or {})
        if "memory" in amounts:
            memory = parse_quantity(amounts["memory"]) + overhead_mb * MIB
            amounts["memory"] = f"{int(memory / MIB)}Mi"
        if amounts:
            resources[which] = amounts
    return resources


def _launcher_pod(cluster: Cluster, vmi: Obj) -> Obj:
    meta = vmi["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"virt-launcher-{meta['name']}-",
            "labels": {
                **(meta.get("labels") or {}),
                "kubevirt.io": "virt-launcher",
                "vm.kubevirt.io/name": meta["name"],
            },
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": owned_by(vmi),
        },
        "spec": {
            "containers": [
                {
                    "name": "compute",
                    "image": LAUNCHER_IMAGE,
                    "resources": _launcher_resources(vmi["spec"], cluster.launcher_overhead_mb),
                }
            ]
        },
    }


def launcher_of(cluster: Cluster, vmi: Obj) -> Obj | None:
    uid = vmi["metadata"]["uid"]
    for pod in cluster.items("Pod", vmi["metadata"]["namespace"]):
        if any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences") or []):
            return pod
    return None


def _instance(cluster: Cluster, vm: Obj) -> Obj:
    meta, template = vm["metadata"], vm["spec"]["template"]
    found = cluster.get("VirtualMachineInstance", meta["name"], meta["namespace"])
    if found is not None:
        return found
    vmi = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
            "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
            "ownerReferences": owned_by(vm),
        },
        "spec": template["spec"],
    }
    made = cluster.create(BY_KIND["VirtualMachineInstance"], meta["namespace"], vmi, admit=False)
    made["status"] = {"phase": "Pending"}
    return made


def _provisioning(vm: Obj, disks: list[Obj]) -> None:
    """A VM whose DataVolumes are not all filled: no instance yet (KubeVirt starts none before)."""
    conditions = [_condition("Ready", "False", "VMINotExists", "VMI does not exist")]
    printable = "Provisioning"
    for disk in disks:
        if cdi.import_failure(disk):
            printable = "DataVolumeError"
        refused = cdi.quota_refusal(disk)
        if refused is not None:  # as KubeVirt 1.4 and later report it (kubevirt/kubevirt#13667)
            message = f"Error encountered while creating DataVolumes: {refused}"
            conditions.append(_condition("Failure", "True", "FailedCreate", message))
    vm["status"] = {"printableStatus": printable, "ready": False, "created": False, "conditions": conditions}


def run_vm(cluster: Cluster, vm: Obj) -> None:
    """What virt-controller makes of ``vm`` (its status, and the instance and pod it runs in)."""
    volumes = vm["spec"]["template"]["spec"].get("volumes") or []
    images = {(v.get("containerDisk") or {}).get("image") for v in volumes}
    if images & cluster.broken_images:
        vm["status"] = {
            "printableStatus": "ErrImagePull",
            "ready": False,
            "conditions": [_condition("Ready", "False", "ErrImagePull", "Back-off pulling image")],
        }
        return
    disks = cdi.ensure_data_volumes(cluster, vm)
    if any((disk.get("status") or {}).get("phase") != "Succeeded" for disk in disks):
        _provisioning(vm, disks)
        return
    vmi = _instance(cluster, vm)
    running = (vmi.get("status") or {}).get("phase") == "Running"
    if not running and launcher_of(cluster, vmi) is None:
        try:
            cluster.create(BY_KIND["Pod"], vmi["metadata"]["namespace"], _launcher_pod(cluster, vmi))
        except ApiError as refused:
            conditions = [
                _condition("Ready", "False", "PodNotExists", "virt-launcher pod has not yet been scheduled"),
                _condition(
                    "Synchronized",
                    "False",
                    "FailedCreate",
                    f"failed to create virtual machine pod: {refused.status['message']}",
                ),
            ]
            vmi["status"] = {"phase": "Pending", "conditions": conditions}
            vm["status"] = {
                "printableStatus": "Starting",
                "ready": False,
                "created": True,
                "conditions": [dict(c) for c in conditions],
            }
            return
    if not running:
        address = cluster.address()
        vmi["status"] = {
            "phase": "Running",
            "conditions": [_condition("Ready", "True")],
            "interfaces": [{"name": "default", "ipAddress": address, "ipAddresses": [address]}],
        }
    vm["status"] = {
        "printableStatus": "Running",
        "ready": True,
        "created": True,
        "conditions": [_condition("Ready", "True")],
    }
