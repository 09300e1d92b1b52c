"""A Kubernetes zone's settings are checked when it is registered; a bad one is refused naming the field,
locally (kubeconfig and context) or, at the zone check, against the cluster (storage classes, KubeVirt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from provisioners import registry
from provisioners.base import InvalidSettings, ZoneUnavailable
from provisioners.kubernetes import KubernetesDriver
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


def test_the_context_chooses_the_cluster(kubeconfig: str, emulator: Emulator) -> None:
    KubernetesDriver({"kubeconfig": kubeconfig, "context": "elsewhere"}).check()
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
