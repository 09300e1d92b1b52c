"""The reconciling worker on the simulator backend: provisioning, decommissioning, failures, unavailable
zones, lease expiry and drift, each ending in a definite state with nothing left behind."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from cloudsvc.db import Database, utcnow
from cloudsvc.provisioning.models import SimulatorObject
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from cloudsvc.quotas import reconcile
from tests.support import Headers, World


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def worker(database: Database, clock: Clock, **settings: Any) -> Worker:
    return Worker(database, WorkerSettings(**settings), clock=clock)


def get(client: TestClient, who: Headers, request_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/requests/{request_id}", headers=who)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def simulated(database: Database) -> list[str]:
    with database.session() as session:
        return sorted(k for k in session.scalars(select(SimulatorObject.key)) if k.startswith("cs-"))


def usage(client: TestClient, world: World) -> tuple[int, int]:
    vcpus = client.get("/v1/departments/prov/quotas", headers=world.admin).json()["classes"]["vcpus"]
    return vcpus["in_use"], vcpus["reserved"]


def test_an_approved_request_becomes_active_and_goes_away_again(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    spec = {"vcpus": 2, "ram_mb": 2048, "disk_gb": 20, "image": "kylin", "count": 3}
    request_id = world.approved(owner, zone="sim", spec=spec)
    clock = Clock()
    assert worker(database, clock).tick() == 1
    active = get(client, owner, request_id)
    assert active["status"] == "active"
    assert [(r["index"], r["state"]) for r in active["resources"]] == [
        (0, "ready"),
        (1, "ready"),
        (2, "ready"),
    ]
    assert all(r["addresses"] and r["backend_id"] for r in active["resources"])
    assert [s["step"] for s in active["steps"]] == ["begin provisioning", "provisioned"]
    assert active["lease_expires_at"] is not None
    assert len(simulated(database)) == 3
    assert usage(client, world) == (6, 0)

    client.post(f"/v1/requests/{request_id}/decommission", headers=owner)
    worker(database, clock).tick()
    gone = get(client, owner, request_id)
    assert gone["status"] == "decommissioned"
    assert {r["state"] for r in gone["resources"]} == {"absent"}
    assert simulated(database) == []
    assert usage(client, world) == (0, 0)


def test_resources_that_take_time_are_looked_at_again(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("slow", build_steps=2)
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="slow")
    clock = Clock()
    engine = worker(database, clock, recheck=timedelta(seconds=5))
    engine.tick()
    building = get(client, owner, request_id)
    assert building["status"] == "provisioning"
    assert "still building" in building["progress"]
    assert engine.tick() == 0  # not due yet
    clock.advance(seconds=6)
    engine.tick()  # the second of its two building observations
    assert get(client, owner, request_id)["status"] == "provisioning"
    clock.advance(seconds=6)
    engine.tick()
    assert get(client, owner, request_id)["status"] == "active"


def test_a_resource_the_backend_breaks_fails_the_request_and_leaves_nothing(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("flaky", fail_images=["broken-image"], build_steps=1)
    owner = world.principal("requester@dept-a")
    spec = {"vcpus": 1, "ram_mb": 1024, "disk_gb": 10, "image": "broken-image", "count": 2}
    request_id = world.approved(owner, zone="flaky", spec=spec)
    clock = Clock()
    for _ in range(4):
        worker(database, clock).tick()
        clock.advance(seconds=10)
    failed = get(client, owner, request_id)
    assert failed["status"] == "failed"
    assert "simulated failure" in failed["status_reason"]
    assert simulated(database) == []
    assert usage(client, world) == (0, 0)


def test_a_refused_create_fails_with_the_backends_words(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("picky", refuse_images=["nope"])
    owner = world.principal("requester@dept-a")
    spec = {"vcpus": 1, "ram_mb": 1024, "disk_gb": 10, "image": "nope"}
    request_id = world.approved(owner, zone="picky", spec=spec)
    clock = Clock()
    for _ in range(3):
        worker(database, clock).tick()
    failed = get(client, owner, request_id)
    assert (failed["status"], failed["status_reason"]) == ("failed", "image 'nope' not found")


def test_an_unavailable_zone_is_waited_for_then_fails(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("down", unreachable=True)
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="down")
    clock = Clock()
    engine = worker(database, clock, zone_wait=timedelta(minutes=10), retry_max=timedelta(minutes=1))
    engine.tick()
    waiting = get(client, owner, request_id)
    assert waiting["status"] == "provisioning"
    assert "unreachable" in waiting["progress"]
    for _ in range(15):
        clock.advance(minutes=1)
        engine.tick()
    failed = get(client, owner, request_id)
    assert failed["status"] == "failed"
    assert "unavailable for 600 s" in failed["status_reason"]
    assert usage(client, world) == (0, 0)
    health = client.get("/v1/zones/down", params={"check": True}, headers=world.admin).json()["health"]
    assert health["ok"] is False
    assert "unreachable" in health["message"]


def test_an_expired_lease_decommissions(client: TestClient, world: World, database: Database) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim", lease_days=1)
    clock = Clock()
    worker(database, clock).tick()
    clock.advance(days=2)
    engine = worker(database, clock)
    engine.tick()
    assert get(client, owner, request_id)["status"] == "decommissioning"
    engine.tick()
    assert get(client, owner, request_id)["status"] == "decommissioned"
    assert simulated(database) == []


def test_drift_is_noticed_and_reported(client: TestClient, world: World, database: Database) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim")
    clock = Clock()
    worker(database, clock).tick()
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM simulator_objects WHERE key LIKE 'cs-%'"))
    clock.advance(minutes=6)
    worker(database, clock).tick()
    drifted = get(client, owner, request_id)
    assert drifted["status"] == "active"
    assert f"cs-{request_id}-0 vanished" in drifted["drift"]
    events = client.get(
        "/v1/audit", headers=world.principal("auditor"), params={"action": "request.drift"}
    ).json()
    assert [e["target_id"] for e in events["items"]] == [request_id]


def test_bad_zone_settings_are_refused_when_the_zone_is_registered(client: TestClient, world: World) -> None:
    response = client.post(
        "/v1/zones",
        headers=world.admin,
        json={
            "name": "bad",
            "backend": "simulator",
            "network": "extranet",
            "mlps_level": 2,
            "settings": {"build_steps": "many"},
        },
    )
    assert response.status_code == 422
    assert response.json()["field"] == "settings.build_steps"


def test_quota_ledger_agrees_after_a_full_cycle(client: TestClient, world: World, database: Database) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    ids = [world.approved(owner, zone="sim") for _ in range(3)]
    clock = Clock()
    worker(database, clock).tick()
    client.post(f"/v1/requests/{ids[0]}/decommission", headers=owner)
    worker(database, clock).tick()
    with database.transaction() as session:
        assert reconcile.check(session) == []
    assert usage(client, world) == (4, 0)
