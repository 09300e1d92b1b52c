"""The real test OpenStack (tests/openstack/up.sh), a driver for it, and departments that are removed again.

Everything a run creates carries the run's id in its department code (``t<run>-…``), so runs do not meet,
and the session's end deletes every department it made, with whatever the tests left in it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from openstack.config import OpenStackConfig
from openstack.connection import Connection

from provisioners.base import Kind, Observed, ResourceKey, State, Tenancy
from provisioners.openstack import OpenStackDriver
from provisioners.openstack.apis import block_storage, identity
from provisioners.openstack.tenancy import department_tag

HERE = Path(__file__).parent
STATE_DIR = Path(os.environ.get("OS_TESTCLOUD_DIR", "/var/lib/cloudsvc-testcloud"))
CLOUDS_YAML = str(STATE_DIR / "clouds.yaml")
CLOUD = "cloudsvc-test"
IMAGE = "cirros-fake"
RUN = uuid.uuid4().hex[:8]
SETTINGS = {"cloud": CLOUD, "clouds_yaml": CLOUDS_YAML}

TenancyFactory = Callable[..., Tenancy]  # (suffix, limits=None) → a department unique to the run


def pytest_configure(config: pytest.Config) -> None:
    # Registered here rather than in pyproject.toml so that this directory stays self-contained.
    config.addinivalue_line(
        "markers",
        "openstack: needs the real test OpenStack (tests/openstack/up.sh, as root); -m 'not openstack'",
    )


@pytest.fixture(scope="session")
def testcloud() -> str:
    """Starts the stack if it is not up (about 3 s when it is). Returns the clouds.yaml path."""
    try:
        subprocess.run([str(HERE / "up.sh")], check=True, capture_output=True, text=True, timeout=1800)
    except subprocess.CalledProcessError as exc:
        pytest.fail(
            f"tests/openstack/up.sh failed ({exc.returncode}):\n{exc.stdout[-4000:]}\n{exc.stderr[-4000:]}"
        )
    return CLOUDS_YAML


@pytest.fixture(scope="session")
def driver(testcloud: str) -> OpenStackDriver:
    return OpenStackDriver(SETTINGS)


@pytest.fixture(scope="session")
def admin(testcloud: str) -> Iterator[Connection]:
    """openstacksdk on its own, to check what the driver did and to clean up after it."""
    conn = Connection(
        config=OpenStackConfig(config_files=[testcloud], load_envvars=False).get_one(cloud=CLOUD)
    )
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def make_tenancy(admin: Connection) -> Iterator[TenancyFactory]:
    """Departments with codes unique to this run; all of them are purged from the cloud at the end."""
    codes: list[str] = []

    def make(suffix: str, limits: Mapping[str, int | None] | None = None) -> Tenancy:
        code = f"t{RUN}-{suffix}"
        codes.append(code)
        return Tenancy(
            department_code=code,
            department_name=f"Test department {suffix}",
            level="department",
            classification=None,
            mlps_level=3,
            limits=dict(DEFAULT_LIMITS if limits is None else limits),
        )

    yield make
    for code in codes:
        purge_department(admin, code)


DEFAULT_LIMITS: dict[str, int | None] = {
    "servers": 10,
    "vcpus": 20,
    "ram_mb": 20480,
    "volumes": 10,
    "volume_gb": 100,
    "bandwidth_mbps": 1000,
}


@pytest.fixture(scope="session")
def department(make_tenancy: TenancyFactory, driver: OpenStackDriver) -> Tenancy:
    """One department shared by the resource tests, set up once."""
    tenancy = make_tenancy("shared")
    driver.ensure_tenancy(tenancy)
    return tenancy


@pytest.fixture
def request_id() -> str:
    return uuid.uuid4().hex[:12]


def key(request_id: str, kind: Kind, index: int = 0) -> ResourceKey:
    return ResourceKey(request_id, index, kind)


def wait_for(
    driver: OpenStackDriver,
    resource: ResourceKey,
    tenancy: Tenancy,
    until: Callable[[Observed], bool],
    timeout: float = 90,
) -> Observed:
    """Observes every half second until ``until`` holds; fails with the last observation."""
    deadline = time.monotonic() + timeout
    while True:
        observed = driver.observe(resource, tenancy)
        if until(observed):
            return observed
        if time.monotonic() > deadline:
            pytest.fail(f"{resource.name} still {observed} after {timeout} s")
        time.sleep(0.5)


def settled(observed: Observed) -> bool:
    return observed.state not in (State.building, State.deleting)


def is_absent(observed: Observed) -> bool:
    return observed.state is State.absent


def purge_department(admin: Connection, code: str) -> None:
    """Deletes a department's project with everything in it; best effort, so one leftover does not stop
    the rest."""
    keystone = identity(admin)
    cinder = block_storage(admin)
    network = admin.network
    tag = department_tag(code)

    def attempt(what: str, step: Callable[..., object], *args: object, **kwargs: object) -> None:
        try:
            step(*args, **kwargs)
        except Exception as exc:  # keep cleaning; a leftover carries the run's id in its name
            print(f"cleanup of department {code}: {what}: {exc}", file=sys.stderr)

    for project in [p for p in keystone.projects(tags=tag) if tag in (p.tags or [])]:
        pid = project.id
        servers = list(admin.compute.servers(all_projects=True, project_id=pid))
        volumes = list(cinder.volumes(all_projects=True, project_id=pid))
        for server in servers:
            attempt("server", admin.compute.delete_server, server)
        for server in servers:
            attempt("server", admin.compute.wait_for_delete, server, interval=0.5, wait=60)
        for volume in volumes:
            attempt("volume", cinder.delete_volume, volume, force=True)
        for volume in volumes:
            attempt("volume", cinder.wait_for_delete, volume, interval=0.5, wait=60)
        networks = list(network.networks(project_id=pid))
        for net in networks:
            attempt("qos detach", network.update_network, net, qos_policy_id=None)
        for policy in list(network.qos_policies(project_id=pid)):
            attempt("qos policy", network.delete_qos_policy, policy)
        for port in list(network.ports(project_id=pid)):
            attempt("port", network.delete_port, port)
        for subnet in list(network.subnets(project_id=pid)):
            attempt("subnet", network.delete_subnet, subnet)
        for net in networks:
            attempt("network", network.delete_network, net)
        attempt("compute quotas", admin.compute.revert_quota_set, pid)
        attempt("volume quotas", cinder.revert_quota_set, pid)
        attempt("network quotas", network.delete_quota, pid)
        attempt("project", keystone.delete_project, pid)
