"""The Kubernetes driver through the official client against the API emulator: a department's namespace
and what goes in it, servers, volumes and bandwidth, each idempotent by its request."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from provisioners.base import (
    BandwidthSpec,
    Kind,
    PermanentError,
    ResourceKey,
    ServerSpec,
    State,
    TemporaryError,
    VolumeSpec,
)
from provisioners.kubernetes import KubernetesDriver
from tests.kubernetes.conftest import DriverFactory, tenancy
from tests.kubernetes.emulator import BY_KIND, Emulator

NS = "dept-dept-a"
SERVER = ServerSpec(vcpus=2, ram_mb=2048, disk_gb=20, image="kylin")


def server(request: str = "req1", index: int = 0) -> ResourceKey:
    return ResourceKey(request, index, Kind.server)


def volume(request: str = "vol1") -> ResourceKey:
    return ResourceKey(request, 0, Kind.volume)


def bandwidth(request: str = "bw1") -> ResourceKey:
    return ResourceKey(request, 0, Kind.bandwidth)


def names(emulator: Emulator, kind: str, namespace: str | None = NS) -> list[str]:
    return [o["metadata"]["name"] for o in emulator.cluster.items(kind, namespace)]


def writes(emulator: Emulator) -> int:
    return sum(method in ("POST", "PUT", "DELETE") for method, _ in emulator.cluster.log)


# --- tenancy -----------------------------------------------------------------------------------------


def test_a_department_gets_its_namespace_quota_limits_policies_and_access(
    make_driver: DriverFactory, emulator: Emulator
) -> None:
    ref = make_driver(vm_memory_overhead_mb=256).ensure_tenancy(tenancy())
    assert ref.backend_id == NS
    namespace = emulator.cluster.get("Namespace", NS)
    assert namespace is not None
    labels = namespace["metadata"]["labels"]
    assert labels["cloudsvc/department"] == "dept-a"
    assert labels["cloudsvc/level"] == "department"
    assert labels["cloudsvc/classification"] == "unclassified"
    assert labels["cloudsvc/mlps-level"] == "3"
    quota = emulator.cluster.get("ResourceQuota", "cloudsvc-quota", NS)
    assert quota is not None
    assert quota["spec"]["hard"] == {
        "requests.cpu": "8",
        "limits.cpu": "8",
        "requests.memory": "9Gi",  # 8192Mi + 4 × 256Mi launcher overhead, as the API server writes it
        "limits.memory": "9Gi",
        "requests.storage": "50Gi",
        "count/virtualmachines.kubevirt.io": "4",
        "persistentvolumeclaims": "3",
    }
    assert names(emulator, "LimitRange") == ["cloudsvc-defaults"]
    assert sorted(names(emulator, "NetworkPolicy")) == [
        "cloudsvc-allow-same-namespace",
        "cloudsvc-default-deny",
    ]
    binding = emulator.cluster.get("RoleBinding", "cloudsvc-department", NS)
    assert binding is not None
    assert binding["subjects"][0]["name"] == "cloudsvc:dept:dept-a"
    assert binding["roleRef"]["name"] == "edit"


def test_ensuring_again_changes_nothing(make_driver: DriverFactory, emulator: Emulator) -> None:
    driver = make_driver(vm_memory_overhead_mb=256)  # a memory quota the API server rewrites as 9Gi
    driver.ensure_tenancy(tenancy())
    before = writes(emulator)
    driver.ensure_tenancy(tenancy())
    assert writes(emulator) == before


def test_changed_limits_and_a_hand_edited_policy_are_brought_back_in_line(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    driver.ensure_tenancy(tenancy())
    policy = emulator.cluster.get("NetworkPolicy", "cloudsvc-default-deny", NS)
    assert policy is not None
    policy["spec"]["policyTypes"] = ["Ingress"]  # someone opened egress by hand
    limits = {"servers": 6, "vcpus": 16, "ram_mb": 16384, "volumes": None, "volume_gb": 100}
    driver.ensure_tenancy(tenancy(limits=limits))
    quota = emulator.cluster.get("ResourceQuota", "cloudsvc-quota", NS)
    assert quota is not None
    assert quota["spec"]["hard"]["requests.cpu"] == "16"
    assert "persistentvolumeclaims" not in quota["spec"]["hard"]  # no limit of its own
    assert quota["metadata"]["generation"] == 2
    assert emulator.cluster.get("NetworkPolicy", "cloudsvc-default-deny", NS)["spec"]["policyTypes"] == [  # type: ignore[index]
        "Ingress",
        "Egress",
    ]


def test_a_changed_department_role_rebinds(make_driver: DriverFactory, emulator: Emulator) -> None:
    make_driver().ensure_tenancy(tenancy())
    make_driver(department_role="view").ensure_tenancy(tenancy())
    binding = emulator.cluster.get("RoleBinding", "cloudsvc-department", NS)
    assert binding is not None
    assert binding["roleRef"]["name"] == "view"


def test_a_namespace_that_is_not_the_departments_is_left_alone(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    emulator.cluster.create(
        BY_KIND["Namespace"], None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    )
    with pytest.raises(PermanentError, match="not department dept-a's"):
        driver.ensure_tenancy(tenancy())
    assert names(emulator, "ResourceQuota") == []


def test_codes_that_are_no_dns_labels_get_namespaces_of_their_own(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    upper = driver.ensure_tenancy(tenancy("Dept_A")).backend_id
    lower = driver.ensure_tenancy(tenancy("dept-a")).backend_id
    assert upper != lower
    assert upper.startswith("dept-dept-a-")


# --- servers -----------------------------------------------------------------------------------------


def test_a_vm_is_made_once_and_observed_ready_with_its_address(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    department = tenancy()
    driver.ensure_tenancy(department)
    assert driver.observe(server(), department).state is State.absent
    made = driver.create(server(), SERVER, department)
    again = driver.create(server(), SERVER, department)  # as after a crash between create and record
    assert made.state is State.ready
    assert made.addresses
    assert made.addresses == again.addresses
    assert made.backend_id == again.backend_id
    assert names(emulator, "VirtualMachine") == ["cs-req1-0"]
    vm = emulator.cluster.get("VirtualMachine", "cs-req1-0", NS)
    assert vm is not None
    assert vm["metadata"]["labels"]["cloudsvc/request"] == "req1"
    assert vm["spec"]["template"]["spec"]["domain"]["resources"]["requests"] == {
        "cpu": "2",
        "memory": "2048Mi",
    }


def test_a_server_is_made_even_before_the_tenancy(driver: KubernetesDriver, emulator: Emulator) -> None:
    assert driver.create(server(), SERVER, tenancy()).state is State.ready
    assert names(emulator, "ResourceQuota") == ["cloudsvc-quota"]


def test_a_vm_that_is_not_ready_yet_is_building(driver: KubernetesDriver, emulator: Emulator) -> None:
    emulator.cluster.hold.add("VirtualMachine")
    assert driver.create(server(), SERVER, tenancy()).state is State.building


def test_a_vm_whose_image_cannot_be_pulled_has_failed(driver: KubernetesDriver, emulator: Emulator) -> None:
    emulator.cluster.broken_images.add("no-such-image")
    seen = driver.create(server(), ServerSpec(1, 512, 1, "no-such-image"), tenancy())
    assert seen.state is State.failed
    assert seen.message is not None
    assert "ErrImagePull" in seen.message


def test_the_vm_count_quota_refuses_one_too_many(driver: KubernetesDriver, emulator: Emulator) -> None:
    department = tenancy(limits={"servers": 1})
    driver.create(server(index=0), SERVER, department)
    with pytest.raises(PermanentError) as refused:
        driver.create(server(index=1), SERVER, department)
    assert (
        'virtualmachines.kubevirt.io "cs-req1-1" is forbidden: exceeded quota: cloudsvc-quota, '
        "requested: count/virtualmachines.kubevirt.io=1, used: count/virtualmachines.kubevirt.io=1, "
        "limited: count/virtualmachines.kubevirt.io=1"
    ) in str(refused.value)


def _launchers(emulator: Emulator) -> list[dict[str, Any]]:
    return [
        pod
        for pod in emulator.cluster.items("Pod", NS)
        if pod["metadata"]["labels"].get("kubevirt.io") == "virt-launcher"
    ]


def test_the_quota_allows_each_vm_its_launcher_pods_overhead(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    """The department may use all of its memory: the quota leaves room for what KubeVirt adds to each VM's
    virt-launcher pod (256 MiB here, within the zone's 320 MiB allowance)."""
    department = tenancy(limits={"servers": 1, "vcpus": 2, "ram_mb": 2048})
    assert driver.create(server(), SERVER, department).state is State.ready
    (launcher,) = _launchers(emulator)
    assert launcher["metadata"]["name"].startswith("virt-launcher-cs-req1-0-")
    assert launcher["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "2", "memory": "2304Mi"}


def test_a_vm_whose_launcher_pod_the_quota_refuses_has_failed_with_kubevirts_message(
    make_driver: DriverFactory, emulator: Emulator
) -> None:
    """With no allowance for the launcher's overhead the ResourceQuota refuses the virt-launcher pod.
    KubeVirt retries for ever and calls the VM "Starting"; the refusal is in its conditions, and the server
    has failed with it instead of building for ever."""
    driver = make_driver(vm_memory_overhead_mb=0)
    department = tenancy(limits={"servers": 1, "vcpus": 2, "ram_mb": 2048})
    seen = driver.create(server(), SERVER, department)
    vm = emulator.cluster.get("VirtualMachine", "cs-req1-0", NS)
    assert vm is not None
    assert vm["status"]["printableStatus"] == "Starting"
    assert seen.state is State.failed
    assert seen.message == (
        'KubeVirt: failed to create virtual machine pod: pods "virt-launcher-cs-req1-0-" is forbidden: '
        "exceeded quota: cloudsvc-quota, requested: limits.memory=2304Mi,requests.memory=2304Mi, "
        "used: limits.memory=0,requests.memory=0, limited: limits.memory=2Gi,requests.memory=2Gi"
    )
    assert _launchers(emulator) == []
    assert driver.observe(server(), department).state is State.failed  # and so it stays


def test_a_vm_kubevirt_is_still_retrying_for_another_reason_is_building(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    """Not every FailedCreate is a refusal: KubeVirt also says so while a migration is still active."""
    department = tenancy()
    driver.create(server(), SERVER, department)
    vm = emulator.cluster.get("VirtualMachine", "cs-req1-0", NS)
    assert vm is not None
    vm["status"] = {
        "printableStatus": "Starting",
        "ready": False,
        "conditions": [
            {
                "type": "Synchronized",
                "status": "False",
                "reason": "FailedCreate",
                "message": "active migration exists",
            }
        ],
    }
    assert driver.observe(server(), department).state is State.building


def test_a_deployment_in_container_mode(make_driver: DriverFactory, emulator: Emulator) -> None:
    driver = make_driver(workload="container", images={"kylin": "registry.gov.cn/kylin:v10"})
    seen = driver.create(server(), SERVER, tenancy())
    assert seen.state is State.ready
    assert seen.addresses
    deployment = emulator.cluster.get("Deployment", "cs-req1-0", NS)
    assert deployment is not None
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.gov.cn/kylin:v10"
    assert len(names(emulator, "Pod")) == 1
    driver.delete(server(), tenancy())
    assert names(emulator, "Deployment") == []
    assert names(emulator, "Pod") == []


def test_a_deployment_whose_pods_the_quota_refuses_has_failed(
    make_driver: DriverFactory, emulator: Emulator
) -> None:
    driver = make_driver(workload="container")
    seen = driver.create(server(), ServerSpec(4, 1024, 1, "kylin"), tenancy(limits={"vcpus": 2}))
    assert seen.state is State.failed
    assert seen.message is not None
    assert "exceeded quota: cloudsvc-quota, requested: limits.cpu=4,requests.cpu=4" in seen.message


def test_deleting_a_server_twice_is_fine(driver: KubernetesDriver, emulator: Emulator) -> None:
    department = tenancy()
    driver.create(server(), SERVER, department)
    driver.delete(server(), department)
    driver.delete(server(), department)
    assert driver.observe(server(), department).state is State.absent
    assert names(emulator, "VirtualMachine") == []
    assert names(emulator, "VirtualMachineInstance") == []


def test_an_object_of_the_same_name_not_labelled_as_the_request_is_not_taken_over(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    department = tenancy()
    driver.create(server("other"), SERVER, department)
    vm = emulator.cluster.get("VirtualMachine", "cs-other-0", NS)
    assert vm is not None
    vm["metadata"]["labels"]["cloudsvc/request"] = "someone-else"
    with pytest.raises(PermanentError, match="not labelled as request other's"):
        driver.observe(server("other"), department)
    with pytest.raises(PermanentError):
        driver.delete(server("other"), department)
    assert names(emulator, "VirtualMachine") == ["cs-other-0"]


# --- volumes -----------------------------------------------------------------------------------------


def test_a_volume_is_a_claim_on_the_zones_storage_class(driver: KubernetesDriver, emulator: Emulator) -> None:
    seen = driver.create(volume(), VolumeSpec(10, "ssd"), tenancy())
    assert seen.state is State.ready
    claim = emulator.cluster.get("PersistentVolumeClaim", "cs-vol1-0", NS)
    assert claim is not None
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"


def test_a_claim_that_binds_on_first_use_is_ready(driver: KubernetesDriver, emulator: Emulator) -> None:
    seen = driver.create(volume(), VolumeSpec(10, "local"), tenancy())
    assert seen.state is State.ready
    assert seen.details["phase"] == "Pending"
    assert seen.details["binds_on_first_use"] is True


def test_a_claim_still_pending_is_building(driver: KubernetesDriver, emulator: Emulator) -> None:
    emulator.cluster.hold.add("PersistentVolumeClaim")
    assert driver.create(volume(), VolumeSpec(10, "ssd"), tenancy()).state is State.building


def test_a_volume_type_the_zone_has_no_class_for_is_refused(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    with pytest.raises(PermanentError, match="no storage class for volume type 'archive'"):
        driver.create(volume(), VolumeSpec(10, "archive"), tenancy())
    assert names(emulator, "PersistentVolumeClaim") == []


def test_a_claim_over_the_namespaces_quota_is_refused_in_kubernetes_words(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    department = tenancy(limits={"volumes": 5, "volume_gb": 50})
    driver.create(volume("v1"), VolumeSpec(45, "ssd"), department)
    with pytest.raises(PermanentError) as refused:
        driver.create(volume("v2"), VolumeSpec(10, "ssd"), department)
    assert (
        'persistentvolumeclaims "cs-v2-0" is forbidden: exceeded quota: cloudsvc-quota, '
        "requested: requests.storage=10Gi, used: requests.storage=45Gi, limited: requests.storage=50Gi "
        "(HTTP 403 Forbidden)"
    ) in str(refused.value)
    assert names(emulator, "PersistentVolumeClaim") == ["cs-v1-0"]


def test_a_deleted_volume_is_gone(driver: KubernetesDriver, emulator: Emulator) -> None:
    department = tenancy()
    driver.create(volume(), VolumeSpec(10, "standard"), department)
    driver.delete(volume(), department)
    assert driver.observe(volume(), department).state is State.absent


# --- bandwidth ---------------------------------------------------------------------------------------


def _annotations(emulator: Emulator, name: str) -> dict[str, str]:
    vm = emulator.cluster.get("VirtualMachine", name, NS)
    assert vm is not None
    return dict(vm["spec"]["template"]["metadata"].get("annotations") or {})


def test_a_bandwidth_limit_annotates_every_workload_now_and_later(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    department = tenancy()
    driver.create(server(index=0), SERVER, department)
    limit = driver.create(bandwidth(), BandwidthSpec(20, "egress"), department)
    assert limit.state is State.ready
    assert _annotations(emulator, "cs-req1-0") == {
        "kubernetes.io/egress-bandwidth": "20M",
        "cloudsvc/bandwidth": "cs-bw1-0",
    }
    driver.create(server(index=1), SERVER, department)
    assert _annotations(emulator, "cs-req1-1")["kubernetes.io/egress-bandwidth"] == "20M"
    assert driver.observe(bandwidth(), department).state is State.ready

    driver.delete(bandwidth(), department)
    assert _annotations(emulator, "cs-req1-0") == {}
    assert _annotations(emulator, "cs-req1-1") == {}
    assert driver.observe(bandwidth(), department).state is State.absent


def test_a_workload_changed_by_hand_shows_the_limit_as_building(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    department = tenancy()
    driver.create(server(), SERVER, department)
    driver.create(bandwidth(), BandwidthSpec(20, "both"), department)
    _vm = emulator.cluster.get("VirtualMachine", "cs-req1-0", NS)
    assert _vm is not None
    _vm["spec"]["template"]["metadata"]["annotations"].pop("kubernetes.io/ingress-bandwidth")
    seen = driver.observe(bandwidth(), department)
    assert seen.state is State.building
    assert seen.details["pending"] == ["cs-req1-0"]
    assert driver.create(bandwidth(), BandwidthSpec(20, "both"), department).state is State.ready


def test_a_second_bandwidth_limit_is_refused(driver: KubernetesDriver, emulator: Emulator) -> None:
    department = tenancy()
    driver.create(bandwidth("first"), BandwidthSpec(20, "both"), department)
    with pytest.raises(PermanentError, match="already has bandwidth limit cs-first-0"):
        driver.create(bandwidth("second"), BandwidthSpec(50, "both"), department)
    assert names(emulator, "ConfigMap") == ["cs-first-0"]


def test_a_workload_deleted_while_the_limit_is_lifted_is_passed_over(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    """The server request beside this one is decommissioned between the driver's list of the workloads and
    its update of one of them: that one needs no annotation any more, and the limit still goes."""
    department = tenancy()
    driver.create(server(index=0), SERVER, department)
    driver.create(server(index=1), SERVER, department)
    driver.create(bandwidth(), BandwidthSpec(20, "both"), department)
    vm = BY_KIND["VirtualMachine"]
    emulator.fail(
        "PUT",
        r"/virtualmachines/cs-req1-0$",
        status=None,
        before=lambda: emulator.cluster.delete(vm, NS, "cs-req1-0"),
    )
    driver.delete(bandwidth(), department)
    assert names(emulator, "VirtualMachine") == ["cs-req1-1"]
    assert _annotations(emulator, "cs-req1-1") == {}
    assert driver.observe(bandwidth(), department).state is State.absent


# --- namespaces going away ---------------------------------------------------------------------------


def test_deleting_the_namespace_removes_everything_in_it(
    driver: KubernetesDriver, emulator: Emulator
) -> None:
    department = tenancy()
    driver.create(server(), SERVER, department)
    driver.create(volume(), VolumeSpec(10, "ssd"), department)
    namespace = BY_KIND["Namespace"]
    emulator.cluster.delete(namespace, None, NS)
    assert [k for k in emulator.cluster.objects if k[1] == NS] == []
    assert driver.observe(server(), department).state is State.absent
    assert driver.observe(volume(), department).state is State.absent
    driver.delete(server(), department)  # nothing there: fine


def test_a_namespace_being_terminated_is_waited_for(driver: KubernetesDriver, emulator: Emulator) -> None:
    department = tenancy()
    driver.ensure_tenancy(department)
    emulator.cluster.hold_terminating = True
    emulator.cluster.delete(BY_KIND["Namespace"], None, NS)
    with pytest.raises(TemporaryError, match="being deleted"):
        driver.ensure_tenancy(department)
    with pytest.raises(TemporaryError, match="because it is being terminated"):
        driver.create(volume(), VolumeSpec(1, "ssd"), department)
    emulator.cluster.finish_terminating()
    assert driver.create(volume(), VolumeSpec(1, "ssd"), department).state is State.ready


# --- racing workers ----------------------------------------------------------------------------------


def test_two_workers_racing_make_one_of_everything(make_driver: DriverFactory, emulator: Emulator) -> None:
    """Each worker builds its own driver; both ensure the tenancy and create the same keys at once."""
    department = tenancy()
    drivers = [make_driver(), make_driver()]
    errors: list[BaseException] = []

    def work(driver: KubernetesDriver) -> None:
        try:
            driver.ensure_tenancy(department)
            for index in range(3):
                driver.create(server(index=index), SERVER, department)
            driver.create(volume(), VolumeSpec(5, "ssd"), department)
        except BaseException as exc:  # collected, so that the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in drivers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert names(emulator, "Namespace", None).count(NS) == 1
    assert names(emulator, "VirtualMachine") == ["cs-req1-0", "cs-req1-1", "cs-req1-2"]
    assert names(emulator, "PersistentVolumeClaim") == ["cs-vol1-0"]
    assert names(emulator, "ResourceQuota") == ["cloudsvc-quota"]
