"""Every object the driver can build conforms to the official Kubernetes OpenAPI schemas (strict) or, for
VirtualMachines, to KubeVirt's CRD schema; and the checks themselves refuse what the API server refuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioners.base import BandwidthSpec, Kind, ResourceKey, ServerSpec, VolumeSpec
from provisioners.kubernetes import objects
from provisioners.kubernetes.settings import parse_settings
from tests.kubernetes import schemas
from tests.kubernetes.conftest import tenancy

SERVER = ServerSpec(vcpus=2, ram_mb=3072, disk_gb=40, image="kylin-v10")
KEY = ResourceKey("7f3c9a40e1b2", 2, Kind.server)
BANDWIDTH = objects.bandwidth_annotations(ResourceKey("b1", 0, Kind.bandwidth), BandwidthSpec(50, "both"))
MODES = [
    {"workload": "vm"},
    {"workload": "vm", "root_disk": "dataVolume", "root_storage_class": "fast-ssd"},
    {
        "workload": "vm",
        "root_disk": "dataVolume",
        "image_source": "http",
        "images": {"kylin-v10": "http://img/k.qcow2"},
    },
    {"workload": "container", "images": {"kylin-v10": "registry.gov/kylin:v10"}},
]


def settings_for(**extra: Any) -> Any:
    return parse_settings({"in_cluster": True, **extra})


@pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(str(v) for v in m.values())[:40])
@pytest.mark.parametrize("bandwidth", [{}, BANDWIDTH], ids=["no-limit", "limit"])
def test_servers_conform(mode: dict[str, Any], bandwidth: dict[str, str]) -> None:
    zone = settings_for(**mode)
    build = objects.virtual_machine if zone.workload == "vm" else objects.deployment
    body = build("dept-a", KEY, SERVER, zone, bandwidth)
    assert schemas.problems(body) == []
    assert body["metadata"]["name"] == "cs-7f3c9a40e1b2-2"


def test_a_vm_states_cpu_memory_and_boots_the_image() -> None:
    vm = objects.virtual_machine("dept-a", KEY, SERVER, settings_for(), BANDWIDTH)
    domain = vm["spec"]["template"]["spec"]["domain"]
    assert domain["cpu"]["cores"] == 2
    assert domain["memory"]["guest"] == "3072Mi"
    assert domain["resources"]["limits"] == {"cpu": "2", "memory": "3072Mi"}
    assert vm["spec"]["template"]["spec"]["volumes"] == [
        {"name": "root", "containerDisk": {"image": "kylin-v10"}}
    ]
    assert vm["spec"]["template"]["metadata"]["annotations"]["kubernetes.io/egress-bandwidth"] == "50M"


def test_a_data_volume_root_disk_has_the_servers_disk_size() -> None:
    vm = objects.virtual_machine("dept-a", KEY, SERVER, settings_for(root_disk="dataVolume"), {})
    (template,) = vm["spec"]["dataVolumeTemplates"]
    assert template["spec"]["storage"]["resources"]["requests"]["storage"] == "40Gi"
    assert template["spec"]["source"] == {"registry": {"url": "docker://kylin-v10"}}


LIMITS = st.fixed_dictionaries(
    {
        name: st.none() | st.integers(0, 10**6)
        for name in ("servers", "vcpus", "ram_mb", "volumes", "volume_gb")
    }
)
CODES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    code=CODES,
    limits=LIMITS,
    mode=st.sampled_from(MODES),
    classification=st.sampled_from([None, "classified", "unclassified"]),
    mlps=st.sampled_from([None, 2, 3, 4]),
)
def test_tenancy_objects_conform_for_any_department(
    code: str,
    limits: dict[str, int | None],
    mode: dict[str, Any],
    classification: str | None,
    mlps: int | None,
) -> None:
    zone = settings_for(**mode)
    department = tenancy(code, limits, classification=classification, mlps_level=mlps)
    ns = objects.namespace_name(zone.namespace_prefix, code)
    for body in [objects.namespace(ns, department), *objects.tenancy_objects(ns, department, zone)]:
        assert schemas.problems(body) == [], body
    assert len(ns) <= 63
    assert all(len(v) <= 63 for v in objects.department_labels(department).values())


@settings(max_examples=40, deadline=None)
@given(a=CODES, b=CODES)
def test_distinct_codes_never_share_a_namespace(a: str, b: str) -> None:
    if a != b:
        assert objects.namespace_name("dept-", a) != objects.namespace_name("dept-", b)


def test_quota_mirrors_the_departments_limits() -> None:
    limits = {"servers": 4, "vcpus": 8, "ram_mb": 8192, "volumes": 3, "volume_gb": 50}
    assert objects.quota_hard(limits, settings_for(vm_memory_overhead_mb=0)) == {
        "requests.cpu": "8",
        "limits.cpu": "8",
        "requests.memory": "8192Mi",
        "limits.memory": "8192Mi",
        "requests.storage": "50Gi",
        "count/virtualmachines.kubevirt.io": "4",
        "persistentvolumeclaims": "3",
    }
    # Root disks on DataVolumes are claims too: one per server on top of the volumes.
    assert objects.quota_hard(limits, settings_for(root_disk="dataVolume"))["persistentvolumeclaims"] == "7"
    assert objects.quota_hard(limits, settings_for(workload="container"))["count/deployments.apps"] == "4"
    # Each VM's launcher pod needs KubeVirt's overhead beyond the guest memory; containers do not.
    assert objects.quota_hard(limits, settings_for())["requests.memory"] == f"{8192 + 4 * 320}Mi"
    assert objects.quota_hard(limits, settings_for(workload="container"))["limits.memory"] == "8192Mi"
    # No limit of its own: nothing in the ResourceQuota.
    assert objects.quota_hard({"vcpus": None, "servers": 2}, settings_for()) == {
        "count/virtualmachines.kubevirt.io": "2"
    }


@pytest.mark.parametrize(
    "body",
    [
        objects.persistent_volume_claim("dept-a", KEY, VolumeSpec(10, "ssd"), "fast-ssd"),
        objects.persistent_volume_claim("dept-a", KEY, VolumeSpec(10, "standard"), None),
        objects.bandwidth_record("dept-a", KEY, BandwidthSpec(20, "egress")),
    ],
    ids=["pvc-class", "pvc-default", "bandwidth"],
)
def test_volumes_and_bandwidth_records_conform(body: dict[str, Any]) -> None:
    assert schemas.problems(body) == []


def test_the_crd_subset_is_itself_a_valid_crd() -> None:
    assert schemas.problems(schemas.crd()) == []


# --- the checks can fail ----------------------------------------------------------------------------


def _vm() -> dict[str, Any]:
    return objects.virtual_machine("dept-a", KEY, SERVER, settings_for(), {})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda vm: vm["spec"]["template"]["spec"]["domain"].update(cpus=2), "cpus"),
        (
            lambda vm: vm["spec"]["template"]["spec"]["domain"]["memory"].update(guest="3 GiB"),
            "does not match",
        ),
        (lambda vm: vm["spec"]["template"]["spec"]["domain"].pop("devices"), "'devices' is a required"),
        (lambda vm: vm["spec"].update(running=True), "mutually exclusive"),
        (lambda vm: vm["spec"].update(runStrategy="Sometimes"), "runStrategy"),
        (lambda vm: vm["spec"]["template"]["spec"]["volumes"][0].update(name="boot"), "has no volume"),
    ],
    ids=[
        "unknown-field",
        "bad-quantity",
        "missing-devices",
        "running-and-strategy",
        "bad-strategy",
        "no-volume",
    ],
)
def test_a_wrong_vm_is_refused(change: Any, expected: str) -> None:
    vm = copy.deepcopy(_vm())
    change(vm)
    found = schemas.problems(vm)
    assert any(expected in problem for problem in found), found


def test_a_wrong_builtin_object_is_refused() -> None:
    claim = objects.persistent_volume_claim("dept-a", KEY, VolumeSpec(10, "ssd"), "fast-ssd")
    claim["spec"]["storageClass"] = "fast-ssd"  # the field is storageClassName
    assert any("storageClass" in p for p in schemas.problems(claim))
    quota = objects.resource_quota("dept-a", tenancy(), settings_for())
    quota["spec"]["hard"]["requests.cpu"] = ["8"]
    assert schemas.problems(quota)
