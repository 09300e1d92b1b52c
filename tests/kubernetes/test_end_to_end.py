"""Through cloudsvc, against the emulated Kubernetes zone: request → approval → worker → a namespace with
the department's quota, VMs, a claim and the bandwidth annotations → decommission → gone. Both databases."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cloudsvc.db import Database
from cloudsvc.provisioning.worker import Worker
from provisioners.kubernetes import KubernetesDriver
from tests.kubernetes.conftest import ZONE_STORAGE, tenancy
from tests.kubernetes.emulator import BY_KIND, Emulator
from tests.support import Headers, World

NS = "dept-dept-a"


def settle(
    database: Database, client: TestClient, who: Headers, ids: list[str], want: str
) -> list[dict[str, Any]]:
    """Worker passes until every request is ``want``; the emulator's controllers answer at once, so a
    few passes are enough, and more mean something is wrong."""
    worker = Worker(database)
    for _ in range(5):
        worker.tick()
        found = [client.get(f"/v1/requests/{i}", headers=who).json() for i in ids]
        if all(r["status"] == want for r in found):
            return found
    raise AssertionError([(r["status"], r["progress"], r["status_reason"]) for r in found])


def names(emulator: Emulator, kind: str) -> list[str]:
    return sorted(o["metadata"]["name"] for o in emulator.cluster.items(kind, NS))


def test_servers_a_volume_and_a_bandwidth_limit_come_and_go(
    client: TestClient, world: World, database: Database, emulator: Emulator, kubeconfig: str
) -> None:
    world.ok(
        client.post(
            "/v1/zones",
            headers=world.admin,
            json={
                "name": "k8s-1",
                "backend": "kubernetes",
                "network": "extranet",
                "mlps_level": 3,
                "settings": {"kubeconfig": kubeconfig, "storage_classes": ZONE_STORAGE},
            },
        )
    )
    health = client.get("/v1/zones/k8s-1", params={"check": True}, headers=world.admin).json()["health"]
    assert health["ok"] is True, health
    world.ok(
        client.put(
            "/v1/departments/dept-a/quotas",
            headers=world.admin,
            json={"limits": {"servers": 4, "vcpus": 8, "ram_mb": 8192, "volumes": 4, "volume_gb": 200}},
        )
    )
    owner = world.principal("requester@dept-a")
    server_id = world.approved(
        owner, zone="k8s-1", spec={"vcpus": 2, "ram_mb": 2048, "disk_gb": 20, "image": "kylin", "count": 2}
    )
    volume_id = world.approved(owner, zone="k8s-1", kind="volume", spec={"size_gb": 30, "volume_type": "ssd"})
    bandwidth_id = world.approved(
        owner, zone="k8s-1", kind="bandwidth", spec={"mbps": 20, "direction": "both"}
    )
    ids = [server_id, volume_id, bandwidth_id]

    servers, volume, bandwidth = settle(database, client, owner, ids, "active")

    quota = emulator.cluster.get("ResourceQuota", "cloudsvc-quota", NS)
    assert quota is not None
    assert quota["spec"]["hard"]["requests.cpu"] == "8"
    assert quota["spec"]["hard"]["count/virtualmachines.kubevirt.io"] == "4"
    assert names(emulator, "VirtualMachine") == [f"cs-{server_id}-0", f"cs-{server_id}-1"]
    assert [r["state"] for r in servers["resources"]] == ["ready", "ready"]
    assert all(r["addresses"] for r in servers["resources"])
    assert names(emulator, "PersistentVolumeClaim") == [f"cs-{volume_id}-0"]
    assert volume["resources"][0]["state"] == "ready"
    assert bandwidth["resources"][0]["state"] == "ready"
    for vm in emulator.cluster.items("VirtualMachine", NS):
        annotations = vm["spec"]["template"]["metadata"]["annotations"]
        assert annotations["kubernetes.io/ingress-bandwidth"] == "20M"
        assert annotations["kubernetes.io/egress-bandwidth"] == "20M"

    for request_id in ids:
        assert client.post(f"/v1/requests/{request_id}/decommission", headers=owner).status_code == 200
    settle(database, client, owner, ids, "decommissioned")
    assert names(emulator, "VirtualMachine") == []
    assert names(emulator, "VirtualMachineInstance") == []
    assert names(emulator, "PersistentVolumeClaim") == []
    assert names(emulator, "ConfigMap") == []
    assert emulator.cluster.get("Namespace", NS) is not None  # the department's place stays for next time
    usage = client.get("/v1/departments/dept-a/quotas", headers=world.admin).json()["classes"]
    assert (usage["vcpus"]["in_use"], usage["vcpus"]["reserved"]) == (0, 0)


def test_a_claim_the_cluster_quota_refuses_fails_the_request_and_leaves_nothing(
    client: TestClient, world: World, database: Database, emulator: Emulator, kubeconfig: str
) -> None:
    """cloudsvc admitted it, the cluster did not (its operators capped the namespace's storage with a
    quota of their own): the request fails with the API server's reason, and nothing is left behind."""
    settings = {"kubeconfig": kubeconfig, "storage_classes": ZONE_STORAGE}
    world.ok(
        client.post(
            "/v1/zones",
            headers=world.admin,
            json={
                "name": "k8s-1",
                "backend": "kubernetes",
                "network": "extranet",
                "mlps_level": 3,
                "settings": settings,
            },
        )
    )
    KubernetesDriver(settings).ensure_tenancy(tenancy("dept-a"))
    cap = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "operator-cap", "namespace": NS},
        "spec": {"hard": {"requests.storage": "10Gi"}},
    }
    emulator.cluster.create(BY_KIND["ResourceQuota"], NS, cap)
    owner = world.principal("requester@dept-a")
    request_id = world.approved(
        owner, zone="k8s-1", kind="volume", spec={"size_gb": 30, "volume_type": "ssd"}
    )
    (failed,) = settle(database, client, owner, [request_id], "failed")
    assert (
        f'persistentvolumeclaims "cs-{request_id}-0" is forbidden: exceeded quota: operator-cap, '
        "requested: requests.storage=30Gi, used: requests.storage=0, limited: requests.storage=10Gi"
    ) in failed["status_reason"]
    assert names(emulator, "PersistentVolumeClaim") == []


def test_a_vm_whose_launcher_pod_the_cluster_refuses_fails_the_request_instead_of_hanging(
    client: TestClient, world: World, database: Database, emulator: Emulator, kubeconfig: str
) -> None:
    """A zone that allows nothing for KubeVirt's launcher overhead: cloudsvc admits the server, the
    namespace's quota refuses its virt-launcher pod, KubeVirt reports it in the VM's conditions; the
    request fails with that reason and the VM is deleted."""
    settings = {"kubeconfig": kubeconfig, "storage_classes": ZONE_STORAGE, "vm_memory_overhead_mb": 0}
    world.ok(
        client.post(
            "/v1/zones",
            headers=world.admin,
            json={
                "name": "k8s-1",
                "backend": "kubernetes",
                "network": "extranet",
                "mlps_level": 3,
                "settings": settings,
            },
        )
    )
    world.ok(
        client.put(
            "/v1/departments/dept-a/quotas",
            headers=world.admin,
            json={"limits": {"servers": 1, "vcpus": 2, "ram_mb": 2048, "volumes": 1, "volume_gb": 20}},
        )
    )
    owner = world.principal("requester@dept-a")
    request_id = world.approved(
        owner, zone="k8s-1", spec={"vcpus": 2, "ram_mb": 2048, "disk_gb": 20, "image": "kylin"}
    )
    (failed,) = settle(database, client, owner, [request_id], "failed")
    assert (
        f'failed to create virtual machine pod: pods "virt-launcher-cs-{request_id}-0-" is forbidden: '
        "exceeded quota: cloudsvc-quota"
    ) in failed["status_reason"]
    assert names(emulator, "VirtualMachine") == []
    assert names(emulator, "VirtualMachineInstance") == []


def test_a_root_disk_the_cluster_quota_refuses_fails_the_request_and_leaves_nothing(
    client: TestClient, world: World, database: Database, emulator: Emulator, kubeconfig: str
) -> None:
    """A zone with root disks on DataVolumes whose operators capped the namespace's storage: CDI cannot
    make the claim and would retry for ever; the request fails with the API server's words instead."""
    settings = {"kubeconfig": kubeconfig, "storage_classes": ZONE_STORAGE, "root_disk": "dataVolume"}
    world.ok(
        client.post(
            "/v1/zones",
            headers=world.admin,
            json={
                "name": "k8s-1",
                "backend": "kubernetes",
                "network": "extranet",
                "mlps_level": 3,
                "settings": settings,
            },
        )
    )
    KubernetesDriver(settings).ensure_tenancy(tenancy("dept-a"))
    cap = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "operator-cap", "namespace": NS},
        "spec": {"hard": {"requests.storage": "10Gi"}},
    }
    emulator.cluster.create(BY_KIND["ResourceQuota"], NS, cap)
    owner = world.principal("requester@dept-a")
    request_id = world.approved(
        owner, zone="k8s-1", spec={"vcpus": 1, "ram_mb": 1024, "disk_gb": 20, "image": "kylin"}
    )
    (failed,) = settle(database, client, owner, [request_id], "failed")
    root = f"cs-{request_id}-0-root"
    assert (
        f'CDI: DataVolume {root}: persistentvolumeclaims "{root}" is forbidden: exceeded quota: '
        "operator-cap, requested: requests.storage=20Gi, used: requests.storage=0, "
        "limited: requests.storage=10Gi"
    ) in failed["status_reason"]
    for kind in ("VirtualMachine", "DataVolume", "PersistentVolumeClaim"):
        assert names(emulator, kind) == [], kind
