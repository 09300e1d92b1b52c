"""Vendor errors never escape the Kubernetes driver: every failure of the API server (as the emulator
injects them: statuses with Status bodies, connection resets, a server that is gone) comes out as the
contract's TemporaryError, ZoneUnavailable or PermanentError, with the vendor error as its cause;
transient ones are retried first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from provisioners.base import (
    BandwidthSpec,
    DriverError,
    Kind,
    PermanentError,
    ResourceKey,
    ServerSpec,
    State,
    TemporaryError,
    VolumeSpec,
    ZoneUnavailable,
)
from provisioners.kubernetes import KubernetesDriver
from tests.kubernetes.conftest import ZONE_STORAGE, DriverFactory, tenancy
from tests.kubernetes.emulator import Emulator

SERVER = ServerSpec(1, 512, 1, "kylin")
KEY = ResourceKey("req1", 0, Kind.server)
VM_PATH = "/virtualmachines"


def posts(emulator: Emulator, fragment: str) -> int:
    return sum(method == "POST" and fragment in path for method, path in emulator.cluster.log)


def test_a_passing_5xx_is_retried(driver: KubernetesDriver, emulator: Emulator) -> None:
    driver.ensure_tenancy(tenancy())
    emulator.fail("POST", VM_PATH, status=503)
    assert driver.create(KEY, SERVER, tenancy()).state is State.ready
    assert posts(emulator, VM_PATH) == 2


def test_a_reset_connection_is_retried(driver: KubernetesDriver, emulator: Emulator) -> None:
    emulator.fail("GET", "/api/v1/namespaces/dept-dept-a$", reset=True, times=2)
    assert driver.observe(KEY, tenancy()).state is State.absent


def test_a_stale_resource_version_is_retried_afresh(driver: KubernetesDriver, emulator: Emulator) -> None:
    department = tenancy()
    driver.create(KEY, SERVER, department)
    emulator.fail("PUT", VM_PATH, status=409)
    bandwidth = ResourceKey("bw", 0, Kind.bandwidth)
    assert driver.create(bandwidth, BandwidthSpec(10, "both"), department).state is State.ready


def test_a_lasting_5xx_is_a_temporary_error_caused_by_the_api_exception(
    make_driver: DriverFactory, emulator: Emulator
) -> None:
    driver = make_driver(retry_attempts=3)
    emulator.fail("GET", "/api/v1/namespaces/", status=500, times=100)
    with pytest.raises(TemporaryError) as raised:
        driver.observe(KEY, tenancy())
    assert not isinstance(raised.value, ZoneUnavailable)
    assert isinstance(raised.value.__cause__, ApiException)
    assert "injected fault" in str(raised.value)
    assert sum(m == "GET" for m, _ in emulator.cluster.log) == 3


def test_a_lasting_reset_is_a_temporary_error(make_driver: DriverFactory, emulator: Emulator) -> None:
    driver = make_driver(retry_attempts=2)
    emulator.fail("GET", "/", reset=True, times=100)
    with pytest.raises(TemporaryError) as raised:
        driver.observe(KEY, tenancy())
    assert isinstance(raised.value.__cause__, urllib3.exceptions.HTTPError)


def test_an_invalid_object_is_permanent_at_once(driver: KubernetesDriver, emulator: Emulator) -> None:
    emulator.fail("POST", "/persistentvolumeclaims", status=422)
    with pytest.raises(PermanentError):
        driver.create(ResourceKey("v", 0, Kind.volume), VolumeSpec(1, "ssd"), tenancy())
    assert posts(emulator, "/persistentvolumeclaims") == 1


def test_a_server_that_is_gone_makes_the_zone_unavailable(tmp_path: Path) -> None:
    with Emulator() as gone:
        kubeconfig = gone.kubeconfig(tmp_path / "kubeconfig")
    driver = KubernetesDriver(
        {"kubeconfig": str(kubeconfig), "storage_classes": ZONE_STORAGE, "retry_attempts": 2}
    )
    with pytest.raises(ZoneUnavailable, match="cannot reach the Kubernetes API server") as raised:
        driver.check()
    assert isinstance(raised.value.__cause__, urllib3.exceptions.HTTPError)
    with pytest.raises(ZoneUnavailable):
        driver.ensure_tenancy(tenancy())


def test_refused_credentials_make_the_zone_unavailable(emulator: Emulator, tmp_path: Path) -> None:
    kubeconfig = emulator.kubeconfig(tmp_path / "kubeconfig", token="wrong")
    driver = KubernetesDriver({"kubeconfig": str(kubeconfig), "storage_classes": ZONE_STORAGE})
    with pytest.raises(ZoneUnavailable, match="refused the zone's credentials"):
        driver.check()


CALLS: dict[str, Callable[[KubernetesDriver], object]] = {
    "check": lambda d: d.check(),
    "ensure_tenancy": lambda d: d.ensure_tenancy(tenancy()),
    "observe": lambda d: d.observe(KEY, tenancy()),
    "create server": lambda d: d.create(KEY, SERVER, tenancy()),
    "create volume": lambda d: d.create(ResourceKey("v", 0, Kind.volume), VolumeSpec(1, "ssd"), tenancy()),
    "create bandwidth": lambda d: d.create(
        ResourceKey("b", 0, Kind.bandwidth), BandwidthSpec(1, "both"), tenancy()
    ),
    "delete": lambda d: d.delete(KEY, tenancy()),
}
FAULTS = {f"http {s}": {"status": s} for s in (400, 403, 404, 409, 422, 429, 500, 503)}
FAULTS["reset"] = {"reset": True}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_no_vendor_exception_escapes(
    make_driver: DriverFactory,
    emulator: Emulator,
    call: Callable[[KubernetesDriver], object],
    fault: dict[str, object],
) -> None:
    driver = make_driver(retry_attempts=2, retry_max_seconds=1)
    driver.create(KEY, SERVER, tenancy())  # something to observe, delete and annotate
    emulator.fail("*", "/", times=10_000, **fault)  # type: ignore[arg-type]
    try:
        call(driver)
    except DriverError as exc:
        raised: DriverError | None = exc
    else:
        raised = None
    # Anything but a DriverError propagates and fails the test.
    if raised is not None:
        assert type(raised) in (TemporaryError, ZoneUnavailable, PermanentError), raised
        assert raised.__cause__ is not None  # the vendor's error, kept for the log
