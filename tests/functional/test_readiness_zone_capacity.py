"""Readiness checks the target zone's room: the capacity the zone declares in its settings, less what its
requests hold, less what planned systems and the systems assessed before in the same call will ask; the
zone choice passes over a full zone; a zone without a declared capacity is said to be unchecked."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cloudsvc.db import Database
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from tests.migration_support import import_csv, operator, plan_body, row
from tests.support import World

# Lower MLPS certification than "ext", so the placement rules prefer it for the MLPS 2 systems of row().
CAPACITY = {"vcpus": 12, "ram_mb": 65_536, "volume_gb": 1_000}


def _zone_with_capacity(world: World, client: TestClient) -> None:
    World.ok(
        client.post(
            "/v1/zones",
            headers=world.admin,
            json={
                "name": "ext-2",
                "backend": "simulator",
                "network": "extranet",
                "mlps_level": 2,
                "settings": {"capacity": CAPACITY},
            },
        )
    )


def _check(system: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in system["readiness"]["checks"] if c["check"] == name)
    return found


def test_a_zone_fills_up_and_readiness_says_by_what(client: TestClient, world: World) -> None:
    _zone_with_capacity(world, client)
    ops = operator(world)
    # A request already in the zone holds 4 of its 12 vcpus while it waits for approval.
    spec = {"vcpus": 4, "ram_mb": 8192, "disk_gb": 40, "image": "kylin-v10"}
    world.submit(world.principal("requester@dept-a"), zone="ext-2", spec=spec)
    World.ok(import_csv(client, ops, [row("s1"), row("s2"), row("s3")]))  # 4 vcpus, 100 GB + a 50 GB root

    response = client.post("/v1/migration/systems:assess", headers=ops, json={"codes": ["s1", "s2", "s3"]})
    assert response.status_code == 200, response.text
    assessed: list[dict[str, Any]] = response.json()
    by_code = {s["code"]: s for s in assessed}
    assert [by_code[c]["target_zone"] for c in ("s1", "s2", "s3")] == ["ext-2", "ext-2", "ext"]
    assert _check(by_code["s1"], "capacity") == {
        "check": "capacity",
        "ok": True,
        "detail": "zone ext-2 has room: "
        "vcpus (needs 4, 8 of 12 free: 4 held by requests, 0 claimed by other systems bound for it); "
        "ram_mb (needs 8192, 57344 of 65536 free: 8192 held by requests, 0 claimed by other systems bound "
        "for it); "
        "volume_gb (needs 150, 960 of 1000 free: 40 held by requests, 0 claimed by other systems bound "
        "for it)",
    }
    assert "4 of 12 free: 4 held by requests, 4 claimed" in _check(by_code["s2"], "capacity")["detail"]
    # s1 and s2 took the zone's last vcpus: s3 goes to the zone whose capacity nobody declared.
    placement = _check(by_code["s3"], "placement")["detail"]
    assert "zone ext-2: not enough free vcpus (needs 4, 0 free)" in placement
    assert _check(by_code["s3"], "capacity") == {
        "check": "capacity",
        "ok": True,
        "detail": "zone ext declares no capacity (settings.capacity): not checked",
    }
    assert all(by_code[c]["readiness"]["ready"] for c in by_code)

    # Planned systems keep their claim; an operator who pins s3 to the full zone is told it does not fit.
    World.ok(client.post("/v1/migration/plans", headers=ops, json=plan_body(systems=["s1", "s2"])))
    World.ok(client.patch("/v1/migration/systems/s3", headers=ops, json={"target_zone": "ext-2"}))
    pinned = World.ok(client.post("/v1/migration/systems/s3:assess", headers=ops))
    assert pinned["target_zone"] == "ext-2"
    assert _check(pinned, "capacity") == {
        "check": "capacity",
        "ok": False,
        "detail": "zone ext-2 short of 4 vcpus "
        "(needs 4, 0 of 12 free: 4 held by requests, 8 claimed by other systems bound for it)",
    }
    assert pinned["readiness"]["ready"] is False
    # A planned system assessed again does not count its own claim against itself.
    again = World.ok(client.post("/v1/migration/systems/s1:assess", headers=ops))
    assert "needs 4, 4 of 12 free: 4 held by requests, 4 claimed" in _check(again, "capacity")["detail"]
    assert again["readiness"]["ready"] is True


def test_zones_without_room_are_passed_over(client: TestClient, world: World) -> None:
    _zone_with_capacity(world, client)
    ops = operator(world)
    # Both zones that declare their room have too little; ext, which declares none, takes it unchecked.
    World.ok(
        client.post(
            "/v1/zones",
            headers=world.admin,
            json={
                "name": "int-2",
                "backend": "simulator",
                "network": "intranet",
                "mlps_level": 4,
                "settings": {"capacity": {"vcpus": 2}},
            },
        )
    )
    World.ok(import_csv(client, ops, [row("big", vcpus=16, storage_gb=2000)]))
    big = World.ok(client.post("/v1/migration/systems/big:assess", headers=ops))
    placement = _check(big, "placement")["detail"]
    assert "zone ext-2: not enough free vcpus (needs 16, 12 free), storage_gb (needs 2050, 1000 free)" in (
        placement
    )
    assert "zone int-2: not enough free vcpus (needs 16, 2 free)" in placement
    assert big["target_zone"] == "ext"


def test_capacity_settings_are_validated_and_hidden_from_the_driver(
    client: TestClient, world: World, database: Database
) -> None:
    def create(settings: dict[str, Any]) -> Any:
        return client.post(
            "/v1/zones",
            headers=world.admin,
            json={
                "name": "z",
                "backend": "simulator",
                "network": "extranet",
                "mlps_level": 2,
                "settings": settings,
            },
        )

    for capacity, field in (
        ({"cpus": 4}, "settings.capacity.cpus"),
        ({"vcpus": -1}, "settings.capacity.vcpus"),
        ({"vcpus": True}, "settings.capacity.vcpus"),
        ({"vcpus": 1.5}, "settings.capacity.vcpus"),
        ([4], "settings.capacity"),
    ):
        refused = create({"capacity": capacity})
        assert refused.status_code == 422, capacity
        assert refused.json()["field"] == field
    _zone_with_capacity(world, client)
    # The simulator refuses settings it does not know: it must never see the capacity block.
    request_id = world.approved(world.principal("requester@dept-a"), zone="ext-2")
    Worker(database, WorkerSettings()).tick()
    assert World.ok(client.get(f"/v1/requests/{request_id}", headers=world.admin))["status"] == "active"
