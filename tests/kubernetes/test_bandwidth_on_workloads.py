"""A department's bandwidth limit is the CNI bandwidth plugin's pod annotations
(kubernetes.io/ingress-bandwidth, kubernetes.io/egress-bandwidth) on the pod templates of all its servers,
VMs and Deployments alike: set, changed when the limit is replaced by another, and removed when it goes,
leaving the workloads' other annotations alone. The pods carry them too, which is where the plugin reads
them: a Deployment rolls its pods; a VM's virt-launcher pod takes them when it is made."""

from __future__ import annotations

from typing import Any

import pytest

from provisioners.base import BandwidthSpec, Kind, ResourceKey, ServerSpec, State
from provisioners.kubernetes import KubernetesDriver
from tests.kubernetes.conftest import DriverFactory, tenancy
from tests.kubernetes.emulator import Emulator

NS = "dept-dept-a"
SERVER = ServerSpec(vcpus=1, ram_mb=1024, disk_gb=10, image="kylin")
INGRESS, EGRESS, OWNER = (
    "kubernetes.io/ingress-bandwidth",
    "kubernetes.io/egress-bandwidth",
    "cloudsvc/bandwidth",
)
KINDS = {"vm": "VirtualMachine", "container": "Deployment"}


def server(index: int) -> ResourceKey:
    return ResourceKey("srv", index, Kind.server)


def limit(request: str) -> ResourceKey:
    return ResourceKey(request, 0, Kind.bandwidth)


@pytest.fixture(params=["vm", "container"])
def workload(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


@pytest.fixture
def driver(make_driver: DriverFactory, workload: str) -> KubernetesDriver:
    return make_driver(workload=workload)


def templates(emulator: Emulator, workload: str) -> dict[str, dict[str, str]]:
    """Each server's pod template annotations, by server name."""
    return {
        obj["metadata"]["name"]: dict(obj["spec"]["template"]["metadata"].get("annotations") or {})
        for obj in emulator.cluster.items(KINDS[workload], NS)
    }


def pods(emulator: Emulator) -> dict[str, dict[str, str]]:
    """Each server's pods' annotations (Deployment pods or virt-launcher pods), by server name."""
    found: dict[str, dict[str, str]] = {}
    for pod in emulator.cluster.items("Pod", NS):
        labels = pod["metadata"]["labels"]
        found[f"cs-{labels['cloudsvc/request']}-{labels['cloudsvc/index']}"] = dict(
            pod["metadata"].get("annotations") or {}
        )
    return found


def test_a_limit_lands_on_every_servers_pod_template_and_on_pods_made_from_it(
    driver: KubernetesDriver, emulator: Emulator, workload: str
) -> None:
    department = tenancy()
    driver.create(server(0), SERVER, department)  # before the limit
    assert driver.create(limit("bw1"), BandwidthSpec(20, "both"), department).state is State.ready
    driver.create(server(1), SERVER, department)  # after it
    wanted = {INGRESS: "20M", EGRESS: "20M", OWNER: "cs-bw1-0"}
    assert templates(emulator, workload) == {"cs-srv-0": wanted, "cs-srv-1": wanted}
    assert pods(emulator)["cs-srv-1"] == wanted
    if workload == "container":
        assert pods(emulator)["cs-srv-0"] == wanted  # the Deployment rolled its pod
    else:
        assert pods(emulator)["cs-srv-0"] == {}  # a running VM takes them at its next start (README)


@pytest.mark.parametrize(
    ("second", "wanted"),
    [
        (BandwidthSpec(50, "both"), {INGRESS: "50M", EGRESS: "50M"}),
        (BandwidthSpec(5, "egress"), {EGRESS: "5M"}),
        (BandwidthSpec(8, "ingress"), {INGRESS: "8M"}),
    ],
    ids=["faster", "egress-only", "ingress-only"],
)
def test_a_limit_replaced_by_another_changes_the_annotations(
    driver: KubernetesDriver, emulator: Emulator, workload: str, second: BandwidthSpec, wanted: dict[str, str]
) -> None:
    department = tenancy()
    for index in range(2):
        driver.create(server(index), SERVER, department)
    driver.create(limit("bw1"), BandwidthSpec(20, "both"), department)
    driver.delete(limit("bw1"), department)  # the first request decommissioned …
    assert driver.create(limit("bw2"), second, department).state is State.ready  # … another approved
    expected = {**wanted, OWNER: "cs-bw2-0"}
    assert templates(emulator, workload) == {"cs-srv-0": expected, "cs-srv-1": expected}
    if workload == "container":
        assert pods(emulator) == {"cs-srv-0": expected, "cs-srv-1": expected}


def test_a_deleted_limit_leaves_no_annotation_of_its_own_and_the_others_alone(
    driver: KubernetesDriver, emulator: Emulator, workload: str
) -> None:
    department = tenancy()
    driver.create(server(0), SERVER, department)
    workload_obj = emulator.cluster.get(KINDS[workload], "cs-srv-0", NS)
    assert workload_obj is not None
    own: dict[str, Any] = {"example.gov/owner": "tax-office"}  # put there by someone else
    workload_obj["spec"]["template"]["metadata"]["annotations"] = dict(own)
    driver.create(limit("bw1"), BandwidthSpec(20, "egress"), department)
    assert templates(emulator, workload)["cs-srv-0"] == {**own, EGRESS: "20M", OWNER: "cs-bw1-0"}
    driver.delete(limit("bw1"), department)
    assert templates(emulator, workload)["cs-srv-0"] == own
    assert driver.observe(limit("bw1"), department).state is State.absent
    if workload == "container":
        assert pods(emulator)["cs-srv-0"] == own
