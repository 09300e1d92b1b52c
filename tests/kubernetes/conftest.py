"""The API emulator (tests/kubernetes/emulator/) served on a loopback port for each test, with the
official schemas checking every object written, a kubeconfig pointing at it, and drivers for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from provisioners.base import Tenancy
from provisioners.kubernetes import KubernetesDriver
from tests.kubernetes import schemas
from tests.kubernetes.emulator import BY_KIND, Cluster, Emulator

DriverFactory = Callable[..., KubernetesDriver]
STORAGE_CLASSES = {"standard": "Immediate", "fast-ssd": "Immediate", "local-wffc": "WaitForFirstConsumer"}
ZONE_STORAGE = {"standard": "standard", "ssd": "fast-ssd", "local": "local-wffc"}


def storage_class(name: str, binding: str) -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": "csi.example.gov",
        "volumeBindingMode": binding,
    }


def seeded_cluster() -> Cluster:
    """An emulated cluster as a zone's would be before cloudsvc: its storage classes and system namespaces,
    every object written checked against the schemas."""
    cluster = Cluster(validate=schemas.problems)
    for name, binding in STORAGE_CLASSES.items():
        cluster.create(BY_KIND["StorageClass"], None, storage_class(name, binding))
    for system in ("default", "kube-system"):
        cluster.create(
            BY_KIND["Namespace"],
            None,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": system}},
        )
    cluster.written.clear()
    return cluster


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(seeded_cluster()) as running:
        yield running


@pytest.fixture
def kubeconfig(emulator: Emulator, tmp_path: Path) -> str:
    return str(emulator.kubeconfig(tmp_path / "kubeconfig"))


@pytest.fixture
def make_driver(kubeconfig: str) -> Iterator[DriverFactory]:
    made: list[KubernetesDriver] = []

    def make(**settings: Any) -> KubernetesDriver:
        # Quick retries: the tests count attempts, they do not wait for them.
        base = {"kubeconfig": kubeconfig, "storage_classes": ZONE_STORAGE, "retry_max_seconds": 5}
        driver = KubernetesDriver({**base, **settings})
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()


@pytest.fixture
def driver(make_driver: DriverFactory) -> KubernetesDriver:
    return make_driver()


def tenancy(
    code: str = "dept-a", limits: Mapping[str, int | None] | None = None, **overrides: Any
) -> Tenancy:
    fields: dict[str, Any] = {
        "department_code": code,
        "department_name": "Bureau of Tests",
        "level": "department",
        "classification": "unclassified",
        "mlps_level": 3,
        "limits": dict(
            limits
            if limits is not None
            else {
                "servers": 4,
                "vcpus": 8,
                "ram_mb": 8192,
                "volumes": 3,
                "volume_gb": 50,
                "bandwidth_mbps": None,
            }
        ),
    }
    return Tenancy(**{**fields, **overrides})
