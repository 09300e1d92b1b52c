"""Root disks on DataVolumes (``root_disk: dataVolume``), against the emulator's stand-ins for KubeVirt and
CDI (tests/kubernetes/emulator/kubevirt.py and cdi.py, not the real ones): the VM's DataVolume template
becomes a claim of the server's disk size that the namespace's quota counts; the server is ready once the
image is imported, and fails, in the API server's or CDI's words, when the claim is refused or the import
fails."""

from __future__ import annotations

import pytest

from provisioners.base import (
    InvalidSettings,
    Kind,
    ResourceKey,
    ServerSpec,
    State,
    VolumeSpec,
)
from provisioners.kubernetes import KubernetesDriver
from tests.kubernetes.conftest import DriverFactory, tenancy
from tests.kubernetes.emulator import Emulator

NS = "dept-dept-a"
KEY = ResourceKey("req1", 0, Kind.server)
ROOT = "cs-req1-0-root"
SERVER = ServerSpec(vcpus=2, ram_mb=2048, disk_gb=20, image="kylin")


@pytest.fixture
def driver(make_driver: DriverFactory) -> KubernetesDriver:
    return make_driver(root_disk="dataVolume", root_storage_class="fast-ssd")


def test_a_vm_is_building_while_its_image_imports_and_ready_after(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    emulator.cluster.hold.add("DataVolume")
    department = tenancy()
    seen = driver.create(KEY, SERVER, department)
    assert seen.state is State.building
    assert seen.details["root_disk"] == {"name": ROOT, "phase": "ImportInProgress", "progress": "47.00%"}
    claim = emulator.cluster.get("PersistentVolumeClaim", ROOT, NS)
    assert claim is not None
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    quota = emulator.cluster.get("ResourceQuota", "cloudsvc-quota", NS)
    assert quota is not None
    used = emulator.cluster.quota_status(quota)["used"]
    assert (used["requests.storage"], used["persistentvolumeclaims"]) == ("20Gi", "1")
    assert emulator.cluster.items("VirtualMachineInstance", NS) == []  # KubeVirt waits for the disk

    emulator.cluster.finish_imports()
    ready = driver.observe(KEY, department)
    assert ready.state is State.ready
    assert ready.addresses


def test_the_claim_count_leaves_room_for_each_servers_root_disk(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    """One volume and one server: two claims under a quota of one volume, as the department asked."""
    department = tenancy(limits={"servers": 1, "volumes": 1, "volume_gb": 50})
    assert driver.create(ResourceKey("vol1", 0, Kind.volume), VolumeSpec(10, "ssd"), department).state is (
        State.ready
    )
    assert driver.create(KEY, SERVER, department).state is State.ready
    assert len(emulator.cluster.items("PersistentVolumeClaim", NS)) == 2


@pytest.mark.parametrize("kubevirt_says_so", [True, False], ids=["kubevirt-1.4", "older-kubevirt"])
def test_a_root_disk_over_the_quota_fails_the_server_in_the_api_servers_words(
    driver: KubernetesDriver, emulator: Emulator, kubevirt_says_so: bool
) -> None:
    """CDI keeps the DataVolume Pending and retries for ever; the VM only says Provisioning (KubeVirt 1.4
    and later add a Failure condition, older ones nothing). The server has failed, with the reason."""
    department = tenancy(limits={"servers": 2, "volumes": 2, "volume_gb": 50})
    driver.create(KEY, ServerSpec(2, 2048, 60, "kylin"), department)
    vm = emulator.cluster.get("VirtualMachine", "cs-req1-0", NS)
    assert vm is not None
    assert vm["status"]["printableStatus"] == "Provisioning"
    if not kubevirt_says_so:
        vm["status"]["conditions"] = [c for c in vm["status"]["conditions"] if c["type"] != "Failure"]
    seen = driver.observe(KEY, department)
    assert seen.state is State.failed
    assert seen.message == (
        f'CDI: DataVolume {ROOT}: persistentvolumeclaims "{ROOT}" is forbidden: exceeded quota: '
        "cloudsvc-quota, requested: requests.storage=60Gi, used: requests.storage=0, "
        "limited: requests.storage=50Gi"
    )
    assert seen.details["root_disk"]["phase"] == "Pending"
    assert emulator.cluster.items("PersistentVolumeClaim", NS) == []


def test_an_import_that_fails_fails_the_server_with_cdis_message(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    emulator.cluster.broken_images.add("kylin")
    seen = driver.create(KEY, SERVER, tenancy())
    vm = emulator.cluster.get("VirtualMachine", "cs-req1-0", NS)
    assert vm is not None
    assert vm["status"]["printableStatus"] == "DataVolumeError"
    assert seen.state is State.failed
    assert seen.message == f"CDI: DataVolume {ROOT}: Unable to process data: kylin: image not found"


def test_deleting_the_server_deletes_its_root_disk(driver: KubernetesDriver, emulator: Emulator) -> None:
    department = tenancy()
    driver.create(KEY, SERVER, department)
    assert emulator.cluster.get("DataVolume", ROOT, NS) is not None
    driver.delete(KEY, department)
    for kind in ("VirtualMachine", "DataVolume", "PersistentVolumeClaim", "Pod"):
        assert emulator.cluster.items(kind, NS) == [], kind
    assert driver.observe(KEY, department).state is State.absent


def test_a_zone_on_data_volumes_needs_cdi(driver: KubernetesDriver, emulator: Emulator) -> None:
    driver.check()
    emulator.cluster.served.discard("cdi.kubevirt.io/v1beta1")
    with pytest.raises(InvalidSettings, match="is CDI installed") as refused:
        driver.check()
    assert refused.value.field == "root_disk"
