"""Workers SIGKILLed at random points while they provision and decommission on the real test OpenStack:
every request converges, each resource exists exactly once while active, nothing is orphaned, and the
quota counters agree with the ledger."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openstack.connection import Connection

from cloudsvc.db import Database
from cloudsvc.quotas import reconcile
from provisioners.openstack.apis import block_storage, identity
from provisioners.openstack.tenancy import department_tag
from tests.openstack.conftest import CLOUD, IMAGE, purge_department
from tests.support import World
from tests.worker_processes import kill_workers_until, statuses

pytestmark = pytest.mark.openstack

# Longer than any single OpenStack call takes here, so a successor never races a dead worker's request
# that the cloud is still processing (that would be two workers, which leases exist to prevent). A new
# worker process also needs a few seconds to start, which adds to the margin.
LEASE_SECONDS = 3


@pytest.fixture
def department(world: World, admin: Connection) -> Iterator[str]:
    code = f"crash-{uuid.uuid4().hex[:10]}"
    world.ok(
        world.client.post(
            "/v1/departments",
            headers=world.admin,
            json={"code": code, "name": "Crash bureau", "level": "department", "parent_code": "cty-a"},
        )
    )
    yield code
    purge_department(admin, code)


def backend_names(admin: Connection, department: str) -> Counter[str]:
    projects = [p for p in identity(admin).projects(tags=department_tag(department))]
    names: Counter[str] = Counter()
    for project in projects:
        names.update(s.name for s in admin.compute.servers(all_projects=True, project_id=project.id))
        names.update(v.name for v in block_storage(admin).volumes(all_projects=True, project_id=project.id))
    return names


def test_killed_workers_converge_without_duplicates_or_orphans(
    client: TestClient,
    world: World,
    database: Database,
    admin: Connection,
    department: str,
    testcloud: str,
    tmp_path: Path,
) -> None:
    world.ok(
        client.post(
            "/v1/zones",
            headers=world.admin,
            json={
                "name": "os-crash",
                "backend": "openstack",
                "network": "extranet",
                "mlps_level": 3,
                "settings": {"cloud": CLOUD, "clouds_yaml": testcloud},
            },
        )
    )
    owner = world.principal(f"requester@{department}")
    server = {"vcpus": 1, "ram_mb": 512, "disk_gb": 1, "image": IMAGE, "count": 2}
    ids = [world.approved(owner, department, zone="os-crash", spec=server) for _ in range(2)]
    ids.append(world.approved(owner, department, zone="os-crash", kind="volume", spec={"size_gb": 1}))
    rng = random.Random(11)
    log = tmp_path / "workers.log"

    kills = kill_workers_until(
        database, "active", len(ids), rng, log, lease=LEASE_SECONDS, budget=600, alive=(0.2, 3.0)
    )
    names = backend_names(admin, department)
    expected = {f"cs-{i}-{n}" for i in ids[:2] for n in range(2)} | {f"cs-{ids[2]}-0"}
    assert set(names) == expected
    assert set(names.values()) == {1}, names  # exactly one backend object per resource

    for request_id in ids:
        assert client.post(f"/v1/requests/{request_id}/decommission", headers=owner).status_code == 200
    kills += kill_workers_until(
        database, "decommissioned", len(ids), rng, log, lease=LEASE_SECONDS, budget=600, alive=(0.2, 3.0)
    )

    assert kills >= 2
    assert statuses(database) == {"decommissioned": len(ids)}
    assert backend_names(admin, department) == Counter()  # no orphans
    with database.transaction() as session:
        assert reconcile.check(session) == []
