"""A stand-in for CDI's DataVolume controller (the Containerized Data Importer): NOT CDI. No importer pod
runs and nothing is copied; the stand-in only gives a DataVolume the states and the claim that the driver
and KubeVirt read (CDI's pkg/controller/datavolume; KubeVirt's pkg/storage/types/dv.go):

- the DataVolume's claim (same name, owned by it) is made through ResourceQuota admission with the size,
  class and access mode of ``spec.storage`` (ReadWriteOnce if it names none, as a StorageProfile would
  say), so it counts against ``requests.storage`` and ``persistentvolumeclaims``. CDI's filesystem
  overhead (a Filesystem claim asks some per cent more than the disk) is not modelled;
- a claim the quota refuses leaves the DataVolume ``Pending`` with the condition CDI sets, ``Bound``
  Unknown, reason ``ErrExceededQuota``, the API server's message;
- otherwise the import runs: ``ImportInProgress`` with a progress while ``"DataVolume"`` is in the
  cluster's ``hold`` (until ``Cluster.finish_imports``), then ``Succeeded`` at 100%; a source in
  ``broken_images`` fails the importer, which CDI reports as ``Running`` False, reason ``Error`` (and
  retries; it is never ``Failed`` here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.kubernetes.emulator.api import BY_KIND, ApiError, Obj, owned_by

if TYPE_CHECKING:
    from tests.kubernetes.emulator.cluster import Cluster

HELD_PROGRESS = "47.00%"


def _source(data_volume: Obj) -> str:
    """The image or URL the DataVolume imports (a ``docker://`` reference without its scheme)."""
    source = data_volume["spec"].get("source") or {}
    url = str((source.get("registry") or source.get("http") or {}).get("url") or "")
    return url.removeprefix("docker://")


def _claim(data_volume: Obj) -> Obj:
    storage = data_volume["spec"].get("storage") or {}
    spec: Obj = {
        "accessModes": list(storage.get("accessModes") or ["ReadWriteOnce"]),
        "resources": storage.get("resources") or {},
    }
    if storage.get("storageClassName"):
        spec["storageClassName"] = storage["storageClassName"]
    meta = data_volume["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": meta["name"],
            "labels": dict(meta.get("labels") or {}),
            "ownerReferences": owned_by(data_volume),
        },
        "spec": spec,
    }


def _conditions(bound: Obj, ready: Obj, running: Obj) -> list[Obj]:
    return [{"type": "Bound", **bound}, {"type": "Ready", **ready}, {"type": "Running", **running}]


def run_data_volume(cluster: Cluster, data_volume: Obj) -> None:
    """What CDI makes of ``data_volume``: its claim and its import's state."""
    meta = data_volume["metadata"]
    if cluster.get("PersistentVolumeClaim", meta["name"], meta["namespace"]) is None:
        try:
            cluster.create(BY_KIND["PersistentVolumeClaim"], meta["namespace"], _claim(data_volume))
        except ApiError as refused:
            data_volume["status"] = {
                "phase": "Pending",
                "progress": "N/A",
                "conditions": _conditions(
                    {"status": "Unknown", "reason": "ErrExceededQuota", "message": refused.status["message"]},
                    {"status": "False"},
                    {"status": "False"},
                ),
            }
            return
    bound = {"status": "True", "reason": "Bound", "message": f"PVC {meta['name']} Bound"}
    if _source(data_volume) in cluster.broken_images:
        data_volume["status"] = {
            "phase": "ImportInProgress",
            "progress": "N/A",
            "restartCount": 3,
            "conditions": _conditions(
                bound,
                {"status": "False"},
                {
                    "status": "False",
                    "reason": "Error",
                    "message": f"Unable to process data: {_source(data_volume)}: image not found",
                },
            ),
        }
    elif "DataVolume" in cluster.hold:
        data_volume["status"] = {
            "phase": "ImportInProgress",
            "progress": HELD_PROGRESS,
            "conditions": _conditions(
                bound, {"status": "False"}, {"status": "True", "reason": "Pod is running"}
            ),
        }
    else:
        data_volume["status"] = {
            "phase": "Succeeded",
            "progress": "100.0%",
            "conditions": _conditions(bound, {"status": "True"}, {"status": "False", "reason": "Completed"}),
        }


def ensure_data_volumes(cluster: Cluster, vm: Obj) -> list[Obj]:
    """KubeVirt's VM controller makes a DataVolume of each of the VM's templates (owned by the VM)."""
    namespace = vm["metadata"]["namespace"]
    made = []
    for template in vm["spec"].get("dataVolumeTemplates") or []:
        name = template["metadata"]["name"]
        found = cluster.get("DataVolume", name, namespace)
        if found is None:
            body = {
                "apiVersion": "cdi.kubevirt.io/v1beta1",
                "kind": "DataVolume",
                "metadata": {
                    "name": name,
                    "labels": dict(template["metadata"].get("labels") or {}),
                    "ownerReferences": owned_by(vm),
                },
                "spec": template["spec"],
            }
            found = cluster.create(BY_KIND["DataVolume"], namespace, body)
        made.append(found)
    return made


def _condition(data_volume: Obj, kind: str) -> Obj:
    conditions = (data_volume.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), {})


def quota_refusal(data_volume: Obj) -> str | None:
    """KubeVirt's reading of a claim refused by the quota (HasDataVolumeExceededQuotaError), in its words."""
    bound = _condition(data_volume, "Bound")
    if bound.get("reason") == "ErrExceededQuota" and bound.get("status") != "True":
        name = data_volume["metadata"]["name"]
        return f"DataVolume {name} importer is not running due to an error: {bound.get('message')}"
    return None


def import_failure(data_volume: Obj) -> bool:
    """What KubeVirt calls a DataVolume error (HasDataVolumeErrors): the VM's DataVolumeError."""
    running = _condition(data_volume, "Running")
    failed = (data_volume.get("status") or {}).get("phase") == "Failed"
    return failed or (
        running.get("status") == "False" and running.get("reason") in ("Error", "ImagePullFailed")
    )
