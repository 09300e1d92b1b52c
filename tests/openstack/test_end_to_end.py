"""Through cloudsvc, against the real test OpenStack: request → approval → worker → an ACTIVE server with
the right flavor and the department's quotas, and a QoS bandwidth limit on its network → decommission →
gone. Runs on both databases."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openstack.connection import Connection

from cloudsvc.db import Database
from cloudsvc.provisioning.worker import Worker
from provisioners.openstack.apis import identity
from provisioners.openstack.tenancy import department_tag
from tests.monitoring.scrape import parse, value
from tests.openstack.conftest import CLOUD, IMAGE, purge_department
from tests.support import Headers, World

pytestmark = pytest.mark.openstack


@pytest.fixture
def department(world: World, admin: Connection) -> Iterator[str]:
    code = f"e2e-{uuid.uuid4().hex[:10]}"
    world.ok(
        world.client.post(
            "/v1/departments",
            headers=world.admin,
            json={"code": code, "name": "E2E bureau", "level": "department", "parent_code": "cty-a"},
        )
    )
    yield code
    purge_department(admin, code)


def settle(
    database: Database, client: TestClient, who: Headers, ids: list[str], want: str
) -> list[dict[str, Any]]:
    """Run worker passes until every request is ``want`` (a real cloud takes seconds)."""
    worker = Worker(database)
    deadline = time.monotonic() + 180
    while True:
        worker.tick()
        found = [client.get(f"/v1/requests/{i}", headers=who).json() for i in ids]
        if all(r["status"] == want for r in found):
            return found
        assert time.monotonic() < deadline, [(r["status"], r["progress"], r["status_reason"]) for r in found]
        assert not any(r["status"] == "failed" for r in found), [r["status_reason"] for r in found]
        time.sleep(0.5)


def test_a_server_and_a_bandwidth_limit_come_and_go(
    client: TestClient, world: World, database: Database, admin: Connection, department: str, testcloud: str
) -> None:
    world.ok(
        client.post(
            "/v1/zones",
            headers=world.admin,
            json={
                "name": "os-1",
                "backend": "openstack",
                "network": "extranet",
                "mlps_level": 3,
                "settings": {"cloud": CLOUD, "clouds_yaml": testcloud},
            },
        )
    )
    health = client.get("/v1/zones/os-1", params={"check": True}, headers=world.admin).json()["health"]
    assert health["ok"] is True, health
    world.ok(
        client.put(
            f"/v1/departments/{department}/quotas",
            headers=world.admin,
            json={"limits": {"servers": 4, "vcpus": 8, "ram_mb": 8192, "volumes": 4, "volume_gb": 50}},
        )
    )
    owner = world.principal(f"requester@{department}")
    server_id = world.approved(
        owner, department, zone="os-1", spec={"vcpus": 1, "ram_mb": 512, "disk_gb": 1, "image": IMAGE}
    )
    bandwidth_id = world.approved(
        owner, department, zone="os-1", kind="bandwidth", spec={"mbps": 20, "direction": "both"}
    )

    server_request, bandwidth_request = settle(database, client, owner, [server_id, bandwidth_id], "active")

    projects = [p for p in identity(admin).projects(tags=department_tag(department))]
    assert len(projects) == 1
    project = projects[0]
    quotas = admin.compute.get_quota_set(project.id)
    assert (quotas.instances, quotas.cores, quotas.ram) == (4, 8, 8192)
    servers = list(admin.compute.servers(all_projects=True, project_id=project.id))
    assert [s.name for s in servers] == [f"cs-{server_id}-0"]
    server = admin.compute.get_server(servers[0].id)
    assert server.status == "ACTIVE"
    assert (server.flavor.vcpus, server.flavor.ram, server.flavor.disk) == (1, 512, 1)
    resource = server_request["resources"][0]
    assert (resource["backend_id"], resource["state"]) == (server.id, "ready")
    assert resource["addresses"]
    policies = list(admin.network.qos_policies(project_id=project.id))
    assert [p.name for p in policies] == [f"cs-{bandwidth_id}-0"]
    rules = list(admin.network.qos_bandwidth_limit_rules(policies[0]))
    assert sorted((r.direction, r.max_kbps) for r in rules) == [("egress", 20000), ("ingress", 20000)]
    networks = [n for n in admin.network.networks(project_id=project.id) if n.qos_policy_id]
    assert [n.qos_policy_id for n in networks] == [policies[0].id]
    assert bandwidth_request["resources"][0]["state"] == "ready"

    # The worker asks Nova's diagnostics what the server uses, and /metrics shows it per department.
    Worker(database).monitor.collect_usage_if_due()
    samples = parse(client.get("/metrics").text)
    figures = {"department": department, "zone": "os-1"}
    assert value(samples, "cloudsvc_backend_cpu_seconds", **figures) == 17.3  # the fake hypervisor's
    assert value(samples, "cloudsvc_backend_usage_resources", **figures) == 1

    for request_id in (server_id, bandwidth_id):
        assert client.post(f"/v1/requests/{request_id}/decommission", headers=owner).status_code == 200
    settle(database, client, owner, [server_id, bandwidth_id], "decommissioned")
    assert list(admin.compute.servers(all_projects=True, project_id=project.id)) == []
    assert list(admin.network.qos_policies(project_id=project.id)) == []
    usage = client.get(f"/v1/departments/{department}/quotas", headers=world.admin).json()["classes"]
    assert (usage["vcpus"]["in_use"], usage["vcpus"]["reserved"]) == (0, 0)
