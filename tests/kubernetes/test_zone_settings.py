"""A Kubernetes zone's settings are checked when it is registered; a bad one is refused naming the field,
locally (kubeconfig and context) or, at the zone check, against the cluster (storage classes, KubeVirt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from provisioners import registry
from provisioners.base import InvalidSettings, Kind, ResourceKey, State, VolumeSpec, ZoneUnavailable
from provisioners.kubernetes import KubernetesDriver
from tests.kubernetes.conftest import seeded_cluster, tenancy
from tests.kubernetes.emulator import Emulator
from tests.support import World


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({}, "kubeconfig"),
        ({"in_cluster": True, "kubeconfig": "K"}, "in_cluster"),
        ({"in_cluster": "yes"}, "in_cluster"),
        ({"in_cluster": True, "context": "c"}, "context"),
        ({"kubeconfig": "/nonexistent/kubeconfig"}, "kubeconfig"),
        ({"kubeconfig": "K", "context": "nowhere"}, "context"),
        ({"kubeconfig": "K", "workload": "lambda"}, "workload"),
        ({"kubeconfig": "K", "workload": "container", "root_disk": "dataVolume"}, "root_disk"),
        ({"kubeconfig": "K", "root_disk": "floppy"}, "root_disk"),
        ({"kubeconfig": "K", "storage_classes": {"ssd": "Fast_SSD"}}, "storage_classes.ssd"),
        ({"kubeconfig": "K", "storage_classes": []}, "storage_classes"),
        ({"kubeconfig": "K", "images": {"kylin": ""}}, "images"),
        ({"kubeconfig": "K", "namespace_prefix": "Dept_"}, "namespace_prefix"),
        ({"kubeconfig": "K", "department_role": None}, "department_role"),
        ({"kubeconfig": "K", "timeout": 0}, "timeout"),
        ({"kubeconfig": "K", "vm_memory_overhead_mb": -1}, "vm_memory_overhead_mb"),
        ({"kubeconfig": "K", "password": "x"}, "password"),
    ],
)
def test_bad_settings_name_the_field(kubeconfig: str, settings: dict[str, Any], field: str) -> None:
    if settings.get("kubeconfig") == "K":
        settings = {**settings, "kubeconfig": kubeconfig}
    with pytest.raises(InvalidSettings) as refused:
        registry.validate("kubernetes", settings)
    assert refused.value.field == field


def test_an_unreadable_kubeconfig_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("clusters: [this is not: a kubeconfig")
    with pytest.raises(InvalidSettings) as refused:
        KubernetesDriver({"kubeconfig": str(broken)})
    assert refused.value.field == "kubeconfig"


def _two_clusters(path: Path, first: Emulator, second: Emulator) -> str:
    """One kubeconfig, as an operator keeps for several zones: a cluster, a user and a context each (each
    API server takes only its own user's token); the current context is the first."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "hz-a", "cluster": {"server": first.url}},
            {"name": "hz-b", "cluster": {"server": second.url}},
        ],
        "users": [
            {"name": "cloudsvc-a", "user": {"token": first.token}},
            {"name": "cloudsvc-b", "user": {"token": second.token}},
        ],
        "contexts": [
            {"name": "zone-a", "context": {"cluster": "hz-a", "user": "cloudsvc-a"}},
            {"name": "zone-b", "context": {"cluster": "hz-b", "user": "cloudsvc-b"}},
        ],
        "current-context": "zone-a",
    }
    path.write_text(yaml.safe_dump(document))
    return str(path)


@pytest.mark.parametrize(("context", "chosen"), [("zone-b", 1), ("zone-a", 0), (None, 0)])
def test_the_zone_talks_to_the_cluster_its_context_names(
    tmp_path: Path, context: str | None, chosen: int
) -> None:
    """Objects land in the named context's cluster and nowhere else; no context: the current one."""
    with (
        Emulator(seeded_cluster(), token="token-of-a") as first,
        Emulator(seeded_cluster(), token="token-of-b") as second,
    ):
        settings: dict[str, Any] = {"kubeconfig": _two_clusters(tmp_path / "kubeconfig", first, second)}
        if context is not None:
            settings["context"] = context
        driver = KubernetesDriver(settings)
        try:
            driver.check()
            made = driver.create(
                ResourceKey("req1", 0, Kind.volume), VolumeSpec(5, "standard"), tenancy("dept-a")
            )
        finally:
            driver.close()
        assert made.state is State.ready
        target, untouched = (first, second) if chosen == 0 else (second, first)
        assert target.cluster.get("PersistentVolumeClaim", "cs-req1-0", "dept-dept-a") is not None
        assert untouched.cluster.log == []  # not even asked


def test_the_backend_is_registered_by_name() -> None:
    assert registry.driver_class("kubernetes") is KubernetesDriver


def test_in_cluster_outside_a_pod_is_an_unavailable_zone_not_a_crash() -> None:
    driver = KubernetesDriver({"in_cluster": True})  # accepted: only the worker's pod can load it
    with pytest.raises(ZoneUnavailable, match="no usable Kubernetes configuration"):
        driver.check()


def test_the_zone_check_finds_a_missing_storage_class(kubeconfig: str, emulator: Emulator) -> None:
    driver = KubernetesDriver({"kubeconfig": kubeconfig, "storage_classes": {"ssd": "no-such-class"}})
    with pytest.raises(InvalidSettings) as refused:
        driver.check()
    assert refused.value.field == "storage_classes.ssd"


def test_a_vm_zone_needs_kubevirt(kubeconfig: str, emulator: Emulator) -> None:
    emulator.cluster.served.discard("kubevirt.io/v1")
    KubernetesDriver({"kubeconfig": kubeconfig, "workload": "container"}).check()
    with pytest.raises(InvalidSettings, match="is KubeVirt installed") as refused:
        KubernetesDriver({"kubeconfig": kubeconfig}).check()
    assert refused.value.field == "workload"


def test_registering_a_bad_zone_is_a_problem_naming_the_field(client: TestClient, world: World) -> None:
    response = client.post(
        "/v1/zones",
        headers=world.admin,
        json={
            "name": "k8s-bad",
            "backend": "kubernetes",
            "network": "extranet",
            "mlps_level": 3,
            "settings": {"in_cluster": True, "workload": "lambda"},
        },
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "settings.workload" in response.text
