"""How the driver reads KubeVirt's VM conditions and CDI's DataVolume status, on the shapes those
controllers write (kubevirt/kubevirt pkg/virt-controller/watch/vmi and vm, kubevirt/kubevirt#13667;
CDI pkg/controller/datavolume): what is a refusal that will not heal, and what is still on its way."""

from __future__ import annotations

from typing import Any

import pytest

from provisioners.kubernetes.workloads import import_problem, refusal

LAUNCHER_REFUSED = (
    'failed to create virtual machine pod: pods "virt-launcher-vm1-" is forbidden: exceeded quota: q, '
    "requested: requests.memory=2304Mi, used: requests.memory=0, limited: requests.memory=2Gi"
)
CLAIM_REFUSED = (
    "Error encountered while creating DataVolumes: DataVolume my-vol importer is not running due to an "
    'error: persistentvolumeclaims "my-vol" is forbidden: exceeded quota: storage, requested: '
    "requests.storage=10737418240, used: requests.storage=0, limited: requests.storage=2Gi"
)


def condition(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([condition("Synchronized", "False", "FailedCreate", LAUNCHER_REFUSED)], LAUNCHER_REFUSED),
        (
            [
                condition("Ready", "False", "VMINotExists", "VMI does not exist"),
                condition("Failure", "True", "FailedCreate", CLAIM_REFUSED),
            ],
            CLAIM_REFUSED,
        ),
        ([condition("Synchronized", "False", "FailedCreate", "active migration exists")], None),
        ([condition("Failure", "False", "FailedCreate", CLAIM_REFUSED)], None),
        ([condition("Synchronized", "False", "ErrImagePull", LAUNCHER_REFUSED)], None),
        ([condition("Ready", "False", "PodNotExists", "virt-launcher pod has not yet been scheduled")], None),
        ([], None),
    ],
    ids=["launcher-pod", "datavolume-claim", "retrying", "no-failure", "other-reason", "not-yet", "none"],
)
def test_a_refusal_is_an_admission_refusal_kubevirt_reports(
    conditions: list[dict[str, Any]], expected: str | None
) -> None:
    assert refusal(conditions) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            {
                "phase": "Pending",
                "conditions": [condition("Bound", "Unknown", "ErrExceededQuota", "exceeded quota: q")],
            },
            "exceeded quota: q",
        ),
        (
            {
                "phase": "ImportInProgress",
                "conditions": [
                    condition("Bound", "True", "Bound"),
                    condition("Running", "False", "Error", "Unable to connect to http data source"),
                ],
            },
            "Unable to connect to http data source",
        ),
        (
            {"phase": "ImportInProgress", "conditions": [condition("Running", "False", "ImagePullFailed")]},
            "ImagePullFailed",
        ),
        ({"phase": "Failed", "conditions": []}, "the import failed"),
        (
            {
                "phase": "ImportInProgress",
                "progress": "12.5%",
                "conditions": [condition("Running", "True", "Pod is running")],
            },
            None,
        ),
        ({"phase": "Pending", "conditions": [condition("Bound", "False", "Pending")]}, None),
        ({"phase": "Succeeded", "conditions": [condition("Running", "False", "Completed")]}, None),
        ({}, None),
    ],
    ids=["quota", "import-error", "pull-failed", "failed", "importing", "pending", "succeeded", "new"],
)
def test_an_import_problem_is_one_cdi_will_not_get_past(status: dict[str, Any], expected: str | None) -> None:
    assert import_problem({"metadata": {"name": "root"}, "status": status}) == expected
