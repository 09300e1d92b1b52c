"""Through cloudsvc, against the real test OpenStack behind a fault-injecting proxy (faultproxy.py): a
quarter of the driver's calls meet a 5xx, a delay or a connection reset (before the call reaches the
service, after it did, or half-way through the answer). Every request still ends active (then
decommissioned) or failed with a reason; nothing is made twice, nothing is left in OpenStack, and no quota
reservation leaks. Runs on both databases.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openstack.config import OpenStackConfig
from openstack.connection import Connection

from cloudsvc.db import Database
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from cloudsvc.quotas import reconcile
from provisioners.openstack.apis import block_storage, identity
from provisioners.openstack.tenancy import department_tag
from tests.openstack.conftest import CLOUD, IMAGE, purge_department
from tests.openstack.faultproxy import KINDS, FaultProxies, Faults, fault_proxies
from tests.support import Headers, World

pytestmark = pytest.mark.openstack

# The test cloud's APIs that the driver uses (see README.md; it never calls Placement), and the versioned
# base path of each. Versioned, because openstacksdk asks an overridden endpoint for its versions when it
# makes a client, and when that one call meets a fault it goes on with the bare URL (GET /networks: 404).
UPSTREAMS = {"identity": 5000, "compute": 8774, "network": 9696, "block-storage": 8776, "image": 9292}
PATHS = {
    "identity": "/v3/",
    "compute": "/v2.1/",
    "network": "/v2.0/",
    # keystoneauth fills in the token's project, as the catalog's own URL has it
    "block-storage": "/v3/%(project_id)s/",
    "image": "/v2/",
}
# With an override and a version both given, openstacksdk trusts them and asks no service which it has.
API_VERSIONS = {"compute": "2", "network": "2", "block-storage": "3", "image": "2", "identity": "3"}
FAULT_RATE = 0.25
SEED = 20240611
SERVER = {"vcpus": 1, "ram_mb": 512, "disk_gb": 1, "image": IMAGE}
FAST = WorkerSettings(
    recheck=timedelta(seconds=0.3), retry_base=timedelta(seconds=0.2), retry_max=timedelta(seconds=2)
)
SETTLE_SECONDS = 240


@pytest.fixture
def faults(tmp_path: Path) -> Iterator[Faults]:
    faults = Faults(rate=0.0, seed=SEED)
    yield faults
    # Every proxied call and what it met, for reading after a failure (pytest keeps the last few tmp_paths).
    (tmp_path / "faults-journal.txt").write_text("\n".join(faults.journal) + "\n")


@pytest.fixture
def proxies(testcloud: str, faults: Faults) -> Iterator[FaultProxies]:
    with fault_proxies(UPSTREAMS, faults) as running:
        yield running


@pytest.fixture
def faulty_clouds_yaml(testcloud: str, proxies: FaultProxies, tmp_path: Path) -> str:
    """The test cloud's clouds.yaml entry, with Keystone and every service endpoint on the proxies.

    Keystone's catalog still lists the real URLs; the per-service overrides are what the driver uses."""
    real = OpenStackConfig(config_files=[testcloud], load_envvars=False).cloud_config["clouds"][CLOUD]
    cloud: dict[str, Any] = {**real, "auth": {**real["auth"], "auth_url": proxies.url("identity", "/v3")}}
    for service, base in PATHS.items():
        cloud[f"{service.replace('-', '_')}_endpoint_override"] = proxies.url(service, base)
    for service, version in API_VERSIONS.items():
        cloud[f"{service.replace('-', '_')}_api_version"] = version
    written = tmp_path / "clouds.yaml"
    written.write_text(json.dumps({"clouds": {CLOUD: cloud}}, indent=2))  # JSON is YAML too
    return str(written)


@pytest.fixture
def department(world: World, admin: Connection) -> Iterator[str]:
    code = f"flt-{uuid.uuid4().hex[:10]}"
    world.ok(
        world.client.post(
            "/v1/departments",
            headers=world.admin,
            json={"code": code, "name": "Fault bureau", "level": "department", "parent_code": "cty-a"},
        )
    )
    yield code
    purge_department(admin, code)


def settle(
    database: Database, client: TestClient, who: Headers, ids: list[str], final: set[str]
) -> list[dict[str, Any]]:
    """Worker passes until every request's status is in ``final``; fails showing the stragglers."""
    worker = Worker(database, FAST)
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        busy = worker.tick()
        found = [client.get(f"/v1/requests/{i}", headers=who).json() for i in ids]
        if all(r["status"] in final for r in found):
            return found
        assert time.monotonic() < deadline, [
            (r["id"], r["kind"], r["status"], r["progress"], r["status_reason"])
            for r in found
            if r["status"] not in final
        ]
        if not busy:
            time.sleep(0.2)


def project_contents(admin: Connection, code: str) -> dict[str, list[str]]:
    """Names of what the department's project holds, as OpenStack itself says (no proxy in the way)."""
    tag = department_tag(code)
    projects = [p for p in identity(admin).projects(tags=tag) if tag in (p.tags or [])]
    assert len(projects) == 1, projects
    pid = projects[0].id
    return {
        "servers": sorted(s.name for s in admin.compute.servers(all_projects=True, project_id=pid)),
        "volumes": sorted(v.name for v in block_storage(admin).volumes(all_projects=True, project_id=pid)),
        "policies": sorted(p.name for p in admin.network.qos_policies(project_id=pid)),
        "networks": sorted(n.name for n in admin.network.networks(project_id=pid)),
    }


def test_every_request_ends_definitely_with_nothing_leaked_under_faults(
    client: TestClient,
    world: World,
    database: Database,
    admin: Connection,
    department: str,
    faults: Faults,
    faulty_clouds_yaml: str,
) -> None:
    started = time.monotonic()
    world.ok(
        client.post(
            "/v1/zones",
            headers=world.admin,
            json={
                "name": "os-faulty",
                "backend": "openstack",
                "network": "extranet",
                "mlps_level": 3,
                "settings": {"cloud": CLOUD, "clouds_yaml": faulty_clouds_yaml, "timeout": 15},
            },
        )
    )
    health = client.get("/v1/zones/os-faulty", params={"check": True}, headers=world.admin).json()["health"]
    assert health["ok"] is True, health
    world.ok(
        client.put(
            f"/v1/departments/{department}/quotas",
            headers=world.admin,
            json={"limits": {"servers": 8, "vcpus": 8, "ram_mb": 8192, "volumes": 4, "volume_gb": 20}},
        )
    )
    owner = world.principal(f"requester@{department}")

    def approved(kind: str, spec: dict[str, Any]) -> str:
        return world.approved(owner, department, zone="os-faulty", kind=kind, spec=spec)

    servers = [approved("server", {**SERVER, "count": 2}), approved("server", SERVER)]
    volumes = [approved("volume", {"size_gb": 1}), approved("volume", {"size_gb": 2})]
    # A network takes one QoS policy: of two bandwidth limits, one is refused (failed, with the reason).
    bandwidths = [
        approved("bandwidth", {"mbps": 20}),
        approved("bandwidth", {"mbps": 30, "direction": "egress"}),
    ]
    ids = servers + volumes + bandwidths
    assert faults.calls["identity"] > 0  # the health check went through the proxy
    calls_before = sum(faults.calls.values())

    faults.rate = FAULT_RATE
    found = {r["id"]: r for r in settle(database, client, owner, ids, {"active", "failed"})}
    provisioned_at = time.monotonic()

    # Definite outcomes: the servers and volumes made it; of the bandwidth limits exactly one, and the
    # other failed saying why. A fault alone never fails a request: it is retried.
    for request_id in servers + volumes:
        assert found[request_id]["status"] == "active", (
            found[request_id]["status_reason"],
            found[request_id],
        )
    by_status = sorted((found[i]["status"], i) for i in bandwidths)
    assert [status for status, _ in by_status] == ["active", "failed"], by_status
    active_bandwidth, failed_bandwidth = by_status[0][1], by_status[1][1]
    assert "QoS policy" in (found[failed_bandwidth]["status_reason"] or ""), found[failed_bandwidth]
    for request_id in ids:
        if found[request_id]["status"] == "active":
            assert all(r["state"] == "ready" for r in found[request_id]["resources"]), found[request_id]

    # Nothing made twice, whatever a retry after a lost answer did.
    contents = project_contents(admin, department)
    assert contents["servers"] == sorted(
        [f"cs-{servers[0]}-0", f"cs-{servers[0]}-1", f"cs-{servers[1]}-0"]
    ), contents
    assert contents["volumes"] == sorted(f"cs-{v}-0" for v in volumes), contents
    assert contents["policies"] == [f"cs-{active_bandwidth}-0"], contents
    assert contents["networks"] == [f"dept-{department}"], contents

    active = [i for i in ids if found[i]["status"] == "active"]
    for request_id in active:
        world.ok(client.post(f"/v1/requests/{request_id}/decommission", headers=owner))
    ended = {r["id"]: r for r in settle(database, client, owner, active, {"decommissioned"})}
    faults.rate = 0.0
    finished = time.monotonic()

    # The faults were real, of every kind, on every service the driver uses.
    by_kind = faults.by_kind()
    print(
        f"\nfaults: {dict(by_kind)} in {sum(faults.calls.values()) - calls_before} proxied calls "
        f"{dict(faults.calls)}; provisioned in {provisioned_at - started:.1f} s, "
        f"decommissioned in {finished - provisioned_at:.1f} s"
    )
    assert all(by_kind[kind] > 0 for kind in KINDS), by_kind
    for service in UPSTREAMS:
        assert sum(faults.injected[service, kind] for kind in KINDS) > 0, faults.injected
    # The overrides won over the catalog's real URLs: every call that made or removed something came
    # through the proxies (admin and project-scoped connections alike).
    some = r"[^/?]+"
    went_through = {
        "projects made": faults.count("identity", "POST", r"/v3/projects"),
        "servers made": faults.count("compute", "POST", r"/v2\.1/servers"),
        "servers deleted": faults.count("compute", "DELETE", rf"/v2\.1/servers/{some}"),
        "volumes made": faults.count("block-storage", "POST", rf"/v3/{some}/volumes"),
        "volumes deleted": faults.count("block-storage", "DELETE", rf"/v3/{some}/volumes/{some}(\?.*)?"),
        "policies made": faults.count("network", "POST", r"/v2\.0/qos/policies"),
        "policies deleted": faults.count("network", "DELETE", rf"/v2\.0/qos/policies/{some}"),
        "images looked up": faults.count("image", "GET", r"/v2/images.*"),
    }
    least = {
        "projects made": 1,
        "servers made": 3,
        "servers deleted": 3,
        "volumes made": 2,
        "volumes deleted": 2,
        "policies made": 2,
        "policies deleted": 2,
        "images looked up": 1,
    }
    assert all(went_through[what] >= n for what, n in least.items()), went_through

    # Every request ended definitely: made and then removed, or failed saying why.
    outcomes = {
        i: (found[i]["status"], ended.get(i, {}).get("status"), found[i]["status_reason"]) for i in ids
    }
    assert all(
        (status, then) == ("active", "decommissioned") or (status == "failed" and reason)
        for status, then, reason in outcomes.values()
    ), outcomes

    # Nothing of the department is left in OpenStack but its (empty) network.
    contents = project_contents(admin, department)
    assert contents == {"servers": [], "volumes": [], "policies": [], "networks": [f"dept-{department}"]}

    # No reservation leaked: the counters are all zero and agree with the ledger.
    usage = world.ok(client.get(f"/v1/departments/{department}/quotas", headers=world.admin))["classes"]
    assert {c: (u["in_use"], u["reserved"]) for c, u in usage.items() if u["in_use"] or u["reserved"]} == {}
    with database.transaction() as session:
        assert reconcile.check(session) == []
