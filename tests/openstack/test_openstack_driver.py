"""The OpenStack driver against the real test cloud (tests/openstack/up.sh): no mocks.

Every resource is created through the driver and checked with openstacksdk on its own; departments get
codes unique to the run and are purged at the end of the session (see conftest.py).
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as os_exceptions
from openstack.config import OpenStackConfig
from openstack.connection import Connection

from provisioners.base import (
    BandwidthSpec,
    DriverError,
    InvalidSettings,
    Kind,
    Observed,
    PermanentError,
    ServerSpec,
    Spec,
    State,
    TemporaryError,
    Tenancy,
    VolumeSpec,
    ZoneUnavailable,
)
from provisioners.openstack import OpenStackDriver
from provisioners.openstack.apis import block_storage, identity, or_none
from tests.openstack.conftest import (
    CLOUD,
    CLOUDS_YAML,
    DEFAULT_LIMITS,
    IMAGE,
    RUN,
    SETTINGS,
    TenancyFactory,
    is_absent,
    key,
    purge_department,
    settled,
    wait_for,
)

pytestmark = [
    pytest.mark.openstack,
    # openstacksdk 4.22 raises its own pending-deprecation warnings from inside the SDK on ordinary calls
    # (every resource it builds, every proxy, every config). They announce SDK 5 and 6; pyproject pins <5.
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]


def real_auth() -> dict[str, str]:
    """The test cloud's credentials, as clouds.yaml has them."""
    config = OpenStackConfig(config_files=[CLOUDS_YAML], load_envvars=False)
    return dict(config.cloud_config["clouds"][CLOUD]["auth"])


def backend_id(observed: Observed) -> str:
    assert observed.backend_id is not None, observed
    return observed.backend_id


def closed_port() -> int:
    """A loopback port nothing listens on (the kernel just handed it out and it was closed again)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def auth_settings(**auth: str) -> dict[str, Any]:
    return {"auth": {**real_auth(), **auth}, "region_name": "RegionOne"}


# --- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({}, "cloud"),
        ({"cloud": ""}, "cloud"),
        ({"cloud": CLOUD, "auth": {}}, "auth"),
        ({"cloud": "no-such-cloud", "clouds_yaml": CLOUDS_YAML}, "cloud"),
        ({"cloud": CLOUD, "clouds_yaml": "/nonexistent/clouds.yaml"}, "clouds_yaml"),
        ({"auth": "admin:admin"}, "auth"),
        ({"auth": {"auth_url": "http://127.0.0.1:5000/v3"}}, "auth.username"),
        (lambda: auth_settings(password=""), "auth.password"),
        (lambda: auth_settings(auth_url="ftp://127.0.0.1/v3"), "auth.auth_url"),
        (lambda: {**auth_settings(), "auth": {**real_auth(), "token": "x"}}, "auth.token"),
        ({**SETTINGS, "regoin_name": "RegionOne"}, "regoin_name"),
        ({**SETTINGS, "region_name": "Nowhere"}, "region_name"),  # not among the cloud's regions
        ({**SETTINGS, "domain": 7}, "domain"),
        ({**SETTINGS, "network_cidr": "10.0.0.0/33"}, "network_cidr"),
        ({**SETTINGS, "network_cidr": "10.0.0.0/24", "subnet_prefix_length": 24}, "subnet_prefix_length"),
        ({**SETTINGS, "subnet_prefix_length": "24"}, "subnet_prefix_length"),
        ({**SETTINGS, "volume_types": {"standard": 3}}, "volume_types"),
        ({**SETTINGS, "timeout": 0}, "timeout"),
        ({**SETTINGS, "retry_attempts": True}, "retry_attempts"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    settings: dict[str, Any] | Callable[[], dict[str, Any]], field: str
) -> None:
    with pytest.raises(InvalidSettings) as caught:
        OpenStackDriver(settings() if callable(settings) else settings)
    assert caught.value.field == field


def test_good_settings_in_both_forms_are_accepted_without_contacting_the_cloud() -> None:
    OpenStackDriver(SETTINGS)
    OpenStackDriver(
        {
            **auth_settings(auth_url=f"http://127.0.0.1:{closed_port()}/v3"),
            "domain": "Default",
            "network_cidr": "10.200.0.0/16",
            "subnet_prefix_length": 26,
            "volume_types": {"standard": None, "fast": "ssd"},
        }
    )


# --- check ------------------------------------------------------------------------------------------


def test_check_passes_with_good_credentials(driver: OpenStackDriver) -> None:
    driver.check()
    OpenStackDriver(auth_settings()).check()


def test_check_with_a_wrong_password_is_zone_unavailable_at_once(testcloud: str) -> None:
    started = time.monotonic()
    with pytest.raises(ZoneUnavailable, match="refused the zone's credentials") as caught:
        OpenStackDriver(auth_settings(password="wrong")).check()
    assert time.monotonic() - started < 5  # a refusal is not retried
    assert isinstance(caught.value.__cause__, ks_exceptions.Unauthorized)


def test_check_with_an_unreachable_keystone_is_zone_unavailable_after_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v3"
    caplog.set_level(logging.WARNING, logger="provisioners.openstack.errors")
    with pytest.raises(ZoneUnavailable, match="cannot reach Keystone") as caught:
        OpenStackDriver({**auth_settings(auth_url=url), "retry_attempts": 3}).check()
    assert isinstance(caught.value.__cause__, ks_exceptions.ConnectFailure)
    assert len([r for r in caplog.records if "Retrying" in r.getMessage()]) == 2  # 3 attempts


class _Failing(http.server.BaseHTTPRequestHandler):
    """An endpoint that answers every request with 503, as a Keystone behind an overloaded proxy does."""

    token_requests = 0

    def do_GET(self) -> None:  # version discovery
        self._fail()

    def do_POST(self) -> None:  # POST /v3/auth/tokens: one per attempt
        type(self).token_requests += 1
        self._fail()

    def _fail(self) -> None:
        body = b'{"error": {"code": 503, "message": "try later"}}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def failing_endpoint() -> Iterator[str]:
    _Failing.token_requests = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v3"
    server.shutdown()
    server.server_close()
    thread.join()


def test_5xx_is_retried_a_bounded_number_of_times_then_temporary(failing_endpoint: str) -> None:
    driver = OpenStackDriver({**auth_settings(auth_url=failing_endpoint), "retry_attempts": 3})
    started = time.monotonic()
    with pytest.raises(TemporaryError) as caught:
        driver.check()
    assert time.monotonic() - started < 10
    assert _Failing.token_requests == 3
    assert isinstance(caught.value, ZoneUnavailable)  # it was Keystone that failed


def test_check_with_a_region_the_catalog_lacks_names_region_name(testcloud: str) -> None:
    with pytest.raises(InvalidSettings) as caught:
        OpenStackDriver({**auth_settings(), "region_name": "Nowhere"}).check()
    assert caught.value.field == "region_name"


# --- tenancy ----------------------------------------------------------------------------------------


def test_ensure_tenancy_is_idempotent_and_sets_the_quotas(
    driver: OpenStackDriver, admin: Connection, make_tenancy: TenancyFactory
) -> None:
    limits = {"servers": 4, "vcpus": 8, "ram_mb": 8192, "volumes": 3, "volume_gb": 50, "bandwidth_mbps": 10}
    tenancy = make_tenancy("tenancy", limits)
    first = driver.ensure_tenancy(tenancy)
    again = OpenStackDriver(SETTINGS).ensure_tenancy(tenancy)  # a fresh driver, as after a restart

    assert again.backend_id == first.backend_id
    assert again.details["network_id"] == first.details["network_id"]
    assert again.details["subnet_id"] == first.details["subnet_id"]
    keystone = identity(admin)
    project = keystone.get_project(first.backend_id)
    assert project.name == f"dept-t{RUN}-tenancy"
    assert f"cloudsvc-dept:t{RUN}-tenancy" in project.tags
    assert project.domain_id == "default"
    assert len(list(keystone.projects(name=project.name))) == 1
    assert [n.id for n in admin.network.networks(project_id=project.id)] == [first.details["network_id"]]
    subnet = admin.network.get_subnet(first.details["subnet_id"])
    assert ipaddress.IPv4Network(subnet.cidr).subnet_of(ipaddress.IPv4Network("10.128.0.0/12"))
    assert ipaddress.IPv4Network(subnet.cidr).prefixlen == 24

    def quotas() -> tuple[Any, Any, Any]:
        compute = admin.compute.get_quota_set(project.id)
        volume = block_storage(admin).get_quota_set(project.id)
        network = admin.network.get_quota(project.id)
        return compute, volume, network

    compute, volume, network = quotas()
    assert (compute.instances, compute.cores, compute.ram) == (4, 8, 8192)
    assert (volume.volumes, volume.gigabytes) == (3, 50)
    assert network.ports == 4 + 8

    # Limits and name change: the next ensure_tenancy brings them along; None is unlimited.
    changed = dataclasses.replace(
        tenancy, department_name="Renamed", limits={**limits, "servers": None, "volume_gb": 60}
    )
    assert driver.ensure_tenancy(changed).backend_id == first.backend_id
    compute, volume, network = quotas()
    assert (compute.instances, compute.cores, volume.gigabytes, network.ports) == (-1, 8, 60, -1)
    assert keystone.get_project(project.id).description.endswith(": Renamed")


def test_departments_get_subnets_that_do_not_overlap(
    driver: OpenStackDriver, department: Tenancy, make_tenancy: TenancyFactory
) -> None:
    other = driver.ensure_tenancy(make_tenancy("other"))
    shared = driver.ensure_tenancy(department)
    assert not ipaddress.IPv4Network(other.details["cidr"]).overlaps(
        ipaddress.IPv4Network(shared.details["cidr"])
    )


# --- servers ----------------------------------------------------------------------------------------


def test_server_lifecycle_without_duplicates(
    driver: OpenStackDriver, admin: Connection, department: Tenancy, request_id: str
) -> None:
    server_key = key(request_id, Kind.server)
    spec = ServerSpec(vcpus=1, ram_mb=512, disk_gb=1, image=IMAGE)  # the size of the cloud's m1.tiny

    created = driver.create(server_key, spec, department, first=True)  # as the worker's first attempt
    assert created.state in (State.building, State.ready)
    assert driver.create(server_key, spec, department).backend_id == created.backend_id  # a retry looks

    ready = wait_for(driver, server_key, department, settled)
    assert ready.state is State.ready, ready
    assert ready.backend_id == created.backend_id
    tenancy_ref = driver.ensure_tenancy(department)
    cidr, project_id = ipaddress.IPv4Network(tenancy_ref.details["cidr"]), tenancy_ref.backend_id
    assert ready.addresses
    assert all(ipaddress.IPv4Address(a) in cidr for a in ready.addresses)

    server = admin.compute.get_server(backend_id(created))
    assert (server.flavor.vcpus, server.flavor.ram, server.flavor.disk) == (1, 512, 1)
    assert server.flavor.original_name == "m1.tiny"  # an existing flavor of the size is used
    assert server.metadata["cloudsvc_request_id"] == request_id
    assert server.project_id == project_id
    named = [
        s for s in admin.compute.servers(all_projects=True, name=server_key.name) if s.name == server_key.name
    ]
    assert len(named) == 1

    # What Nova's diagnostics say the server uses; the fake hypervisor reports one vCPU that has run
    # 17.3 s and no memory in use (nova/virt/fake.py), for every server.
    used = driver.usage(server_key, department)
    assert used is not None
    assert (used.cpu_seconds, used.memory_used_bytes) == (17.3, 0)
    assert driver.usage(key(request_id, Kind.volume), department) is None  # Cinder reports none

    driver.delete(server_key, department)
    wait_for(driver, server_key, department, is_absent)
    driver.delete(server_key, department)  # absent is success
    assert driver.observe(server_key, department).state is State.absent


def test_host_keys_are_asked_of_novas_console_log(
    driver: OpenStackDriver, department: Tenancy, request_id: str
) -> None:
    # The test cloud's fake hypervisor writes a console log without cloud-init's host-key block, so the
    # driver has none to report (the baseline then pins at first contact); the parsing of a real block is in
    # tests/unit/test_openstack_console_host_keys.py. What this shows: the call reaches Nova's console API
    # with the department's credentials and says "none" rather than failing, for a server and for others.
    server_key = key(request_id, Kind.server)
    assert driver.host_keys(server_key, department) is None  # no server yet
    driver.create(server_key, ServerSpec(vcpus=1, ram_mb=512, disk_gb=1, image=IMAGE), department, first=True)
    assert wait_for(driver, server_key, department, settled).state is State.ready
    assert driver.host_keys(server_key, department) is None
    assert driver.host_keys(key(request_id, Kind.volume), department) is None
    driver.delete(server_key, department)
    wait_for(driver, server_key, department, is_absent)


def test_a_server_of_an_unknown_size_gets_a_flavor_made_for_it(
    driver: OpenStackDriver, admin: Connection, department: Tenancy, request_id: str
) -> None:
    ram = 600 + int(RUN, 16) % 400  # a size no other run or flavor has
    spec = ServerSpec(vcpus=2, ram_mb=ram, disk_gb=2, image=IMAGE)
    first, second = key(request_id, Kind.server, 0), key(request_id, Kind.server, 1)
    try:
        driver.create(first, spec, department)
        driver.create(second, spec, department)
        for server_key in (first, second):
            assert wait_for(driver, server_key, department, settled).state is State.ready
        assert driver.observe(first, department).details["flavor"]["name"] == f"cs.2c.{ram}m.2g"
        made = [f for f in admin.compute.flavors(is_public=None) if (f.vcpus, f.ram, f.disk) == (2, ram, 2)]
        assert len(made) == 1  # made once, then found
    finally:
        for server_key in (first, second):
            driver.delete(server_key, department)
        for server_key in (first, second):
            wait_for(driver, server_key, department, is_absent)
        for flavor in admin.compute.flavors(is_public=None):
            if flavor.name == f"cs.2c.{ram}m.2g":
                admin.compute.delete_flavor(flavor)


def test_a_server_nova_cannot_place_is_observed_failed_with_novas_reason(
    driver: OpenStackDriver, admin: Connection, make_tenancy: TenancyFactory, request_id: str
) -> None:
    department = make_tenancy("unlimited", dict.fromkeys(DEFAULT_LIMITS))  # None everywhere: no quota
    huge = 4 * 1024 * 1024 - int(RUN, 16) % 1000  # 4 TB of RAM: more than the fake hypervisor has
    server_key = key(request_id, Kind.server)
    try:
        driver.create(server_key, ServerSpec(vcpus=1, ram_mb=huge, disk_gb=1, image=IMAGE), department)
        failed = wait_for(driver, server_key, department, settled)
        assert failed.state is State.failed
        assert "No valid host" in (failed.message or "")
        driver.delete(server_key, department)
        wait_for(driver, server_key, department, is_absent)
    finally:
        for flavor in admin.compute.flavors(is_public=None):
            if flavor.ram == huge:
                admin.compute.delete_flavor(flavor)


def test_an_image_replaced_since_it_was_looked_up_is_looked_up_again(
    driver: OpenStackDriver, admin: Connection, department: Tenancy, request_id: str
) -> None:
    """The driver remembers image ids (a lookup by name is two Glance calls per server): when the image of a
    name is deleted and uploaded again, the next server is made from the new one, not refused."""
    name = f"replaced-{request_id}"

    def upload() -> str:
        image = admin.image.create_image(
            name=name,
            data=b"\0" * 4096,
            disk_format="raw",
            container_format="bare",
            visibility="public",
            wait=True,
        )
        return str(image.id)

    spec = ServerSpec(vcpus=1, ram_mb=512, disk_gb=1, image=name)
    first, second = key(request_id, Kind.server, 0), key(request_id, Kind.server, 1)
    old = upload()
    try:
        driver.create(first, spec, department, first=True)
        assert wait_for(driver, first, department, settled).details["image_id"] == old
        admin.image.delete_image(old)
        new = upload()
        driver.create(second, spec, department, first=True)
        made = wait_for(driver, second, department, settled)
        assert (made.state, made.details["image_id"]) == (State.ready, new)
    finally:
        for server_key in (first, second):
            driver.delete(server_key, department)
        for server_key in (first, second):
            wait_for(driver, server_key, department, is_absent)
        for image in admin.image.images(name=name):
            admin.image.delete_image(str(image.id), ignore_missing=True)


def test_a_project_removed_behind_the_drivers_back_is_set_up_again(
    make_tenancy: TenancyFactory, admin: Connection, request_id: str
) -> None:
    """The driver remembers a department's project, network and token between calls; once the project is
    gone (an operator removed it by hand), the next call says so as a temporary error and forgets them, and
    the next pass sets the department up again instead of failing on what was remembered."""
    driver = OpenStackDriver(SETTINGS)  # its own memory, not the session's driver's
    department = make_tenancy("removed")
    spec = ServerSpec(vcpus=1, ram_mb=512, disk_gb=1, image=IMAGE)
    before = driver.ensure_tenancy(department)
    first, second = key(request_id, Kind.server, 0), key(request_id, Kind.server, 1)
    driver.create(first, spec, department, first=True)
    assert wait_for(driver, first, department, settled).state is State.ready

    purge_department(admin, department.department_code)  # servers, network and project
    with pytest.raises(TemporaryError):
        driver.create(second, spec, department, first=True)
    after = driver.ensure_tenancy(department)  # as the worker's next pass does
    assert after.backend_id != before.backend_id
    driver.create(second, spec, department)
    made = wait_for(driver, second, department, settled)
    assert (made.state, made.details["project_id"]) == (State.ready, after.backend_id)
    assert driver.observe(first, department).state is State.absent  # it went with the old project
    driver.delete(second, department)
    wait_for(driver, second, department, is_absent)


def test_a_bad_image_is_permanent(driver: OpenStackDriver, department: Tenancy, request_id: str) -> None:
    server_key = key(request_id, Kind.server)
    with pytest.raises(PermanentError, match="no-such-image"):
        driver.create(server_key, ServerSpec(1, 512, 1, f"no-such-image-{request_id}"), department)
    assert driver.observe(server_key, department).state is State.absent


def test_backend_quota_refusals_are_permanent_with_the_backends_words(
    driver: OpenStackDriver, make_tenancy: TenancyFactory, request_id: str
) -> None:
    full = make_tenancy("full", {"servers": 0, "vcpus": 0, "ram_mb": 0, "volumes": 0, "volume_gb": 0})
    driver.ensure_tenancy(full)
    with pytest.raises(PermanentError, match=r"(?i)quota exceeded.*HTTP 403") as nova:
        driver.create(key(request_id, Kind.server), ServerSpec(1, 512, 1, IMAGE), full)
    assert isinstance(nova.value.__cause__, os_exceptions.HttpException)
    with pytest.raises(PermanentError, match=r"(?i)exceeds allowed gigabytes quota.*HTTP 413"):
        driver.create(key(request_id, Kind.volume), VolumeSpec(1, "standard"), full)
    assert driver.observe(key(request_id, Kind.server), full).state is State.absent
    assert driver.observe(key(request_id, Kind.volume), full).state is State.absent


# --- volumes ----------------------------------------------------------------------------------------


def test_volume_lifecycle_without_duplicates(
    driver: OpenStackDriver, admin: Connection, make_tenancy: TenancyFactory, request_id: str
) -> None:
    department = make_tenancy("vol")  # no ensure_tenancy first: create() sets the department up itself
    volume_key = key(request_id, Kind.volume)
    spec = VolumeSpec(size_gb=2, volume_type="standard")  # mapped to the cloud's default type

    created = driver.create(volume_key, spec, department)
    assert driver.create(volume_key, spec, department).backend_id == created.backend_id
    ready = wait_for(driver, volume_key, department, settled)
    assert ready.state is State.ready, ready
    assert ready.backend_id == created.backend_id

    cinder = block_storage(admin)
    volume = cinder.get_volume(backend_id(created))
    assert (volume.name, volume.size, volume.status) == (volume_key.name, 2, "available")
    assert volume.project_id == driver.ensure_tenancy(department).backend_id
    assert volume.metadata["cloudsvc_request_id"] == request_id
    assert len([v for v in cinder.volumes(all_projects=True, name=volume_key.name)]) == 1

    driver.delete(volume_key, department)
    wait_for(driver, volume_key, department, is_absent)
    driver.delete(volume_key, department)
    assert driver.observe(volume_key, department).state is State.absent


def test_a_volume_type_the_cloud_lacks_is_permanent(
    driver: OpenStackDriver, department: Tenancy, request_id: str
) -> None:
    with pytest.raises(PermanentError, match="no-such-type"):
        driver.create(key(request_id, Kind.volume), VolumeSpec(1, "no-such-type"), department)


# --- bandwidth --------------------------------------------------------------------------------------


def test_bandwidth_limit_is_a_qos_policy_on_the_department_network(
    driver: OpenStackDriver, admin: Connection, make_tenancy: TenancyFactory, request_id: str
) -> None:
    tenancy = make_tenancy("bw")
    network_id = driver.ensure_tenancy(tenancy).details["network_id"]
    both, egress = key(request_id, Kind.bandwidth, 0), key(request_id, Kind.bandwidth, 1)

    created = driver.create(both, BandwidthSpec(mbps=50, direction="both"), tenancy)
    assert created.state is State.ready
    assert (
        driver.create(both, BandwidthSpec(mbps=50, direction="both"), tenancy).backend_id
        == created.backend_id
    )
    assert driver.observe(both, tenancy).state is State.ready
    policy = admin.network.get_qos_policy(backend_id(created))
    assert policy.name == both.name
    rules = {(r.direction, r.max_kbps) for r in admin.network.qos_bandwidth_limit_rules(policy)}
    assert rules == {("ingress", 50_000), ("egress", 50_000)}
    assert admin.network.get_network(network_id).qos_policy_id == policy.id

    # A network takes one policy: a second limit is refused rather than silently replacing the first.
    with pytest.raises(PermanentError, match="already carries QoS policy"):
        driver.create(egress, BandwidthSpec(mbps=20, direction="egress"), tenancy)
    assert driver.observe(egress, tenancy).state is State.failed
    assert admin.network.get_network(network_id).qos_policy_id == policy.id
    driver.delete(egress, tenancy)

    driver.delete(both, tenancy)
    assert driver.observe(both, tenancy).state is State.absent
    assert admin.network.get_network(network_id).qos_policy_id is None
    assert or_none(lambda: admin.network.get_qos_policy(policy.id)) is None
    driver.delete(both, tenancy)

    only_egress = driver.create(egress, BandwidthSpec(mbps=20, direction="egress"), tenancy)
    assert only_egress.state is State.ready
    rules = {
        (r.direction, r.max_kbps) for r in admin.network.qos_bandwidth_limit_rules(backend_id(only_egress))
    }
    assert rules == {("egress", 20_000)}
    driver.delete(egress, tenancy)
    assert admin.network.get_network(network_id).qos_policy_id is None


# --- nothing but DriverError escapes ------------------------------------------------------------------


def every_call(
    driver: OpenStackDriver, tenancy: Tenancy, request_id: str
) -> list[tuple[str, Callable[[], Any]]]:
    specs: dict[Kind, Spec] = {
        Kind.server: ServerSpec(1, 512, 1, IMAGE),
        Kind.volume: VolumeSpec(1, "standard"),
        Kind.bandwidth: BandwidthSpec(10, "both"),
    }
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("check", driver.check),
        ("ensure_tenancy", lambda: driver.ensure_tenancy(tenancy)),
    ]
    for kind, spec in specs.items():
        resource = key(request_id, kind)
        calls += [
            (f"observe {kind}", functools.partial(driver.observe, resource, tenancy)),
            (f"create {kind}", functools.partial(driver.create, resource, spec, tenancy)),
            (f"delete {kind}", functools.partial(driver.delete, resource, tenancy)),
        ]
    calls.append(
        ("host_keys server", functools.partial(driver.host_keys, key(request_id, Kind.server), tenancy))
    )
    return calls


BROKEN: dict[str, tuple[Callable[[], dict[str, Any]], type[DriverError]]] = {
    "keystone unreachable": (
        lambda: {**auth_settings(auth_url=f"http://127.0.0.1:{closed_port()}/v3"), "retry_attempts": 2},
        ZoneUnavailable,
    ),
    "wrong password": (lambda: auth_settings(password="wrong"), ZoneUnavailable),
    # clouds.yaml lists its regions (an unknown one is refused in __init__); bare auth settings do not.
    "region without endpoints": (lambda: {**auth_settings(), "region_name": "Nowhere"}, PermanentError),
}


@pytest.mark.parametrize("condition", list(BROKEN))
def test_only_driver_errors_escape_any_call(
    condition: str, testcloud: str, make_tenancy: TenancyFactory, request_id: str
) -> None:
    settings, expected = BROKEN[condition]
    driver = OpenStackDriver(settings())
    for name, call in every_call(driver, make_tenancy("broken"), request_id):
        with pytest.raises(DriverError) as caught:
            call()
        assert isinstance(caught.value, expected), f"{name}: {caught.value!r}"
        cause = caught.value.__cause__
        if isinstance(caught.value, InvalidSettings):
            continue  # the driver's own finding (check() reading the catalog), not a translated error
        assert isinstance(cause, os_exceptions.SDKException | ks_exceptions.ClientException), (
            f"{name}: {caught.value!r} should say which OpenStack error it stands for, not {cause!r}"
        )
