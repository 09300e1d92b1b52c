"""Progress KPIs on a known inventory, and who may read and change the migration inventory."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cloudsvc.db import Database
from cloudsvc.migration.progress import Kpi, migration_kpis
from tests.migration_support import import_csv, known_inventory, operator, row
from tests.support import World


def _kpi(figures: dict[str, Any], code: str, kpi: str) -> dict[str, Any]:
    department = next(d for d in figures["departments"] if d["department_code"] == code)
    found: dict[str, Any] = next(k for k in department["kpis"] if k["kpi"] == kpi)
    return found


def test_kpis_on_a_known_inventory(client: TestClient, world: World, database: Database) -> None:
    known_inventory(client, world, database)
    with database.session() as session:
        figures = {f.department_code: f for f in migration_kpis(session)}
    province = figures["prov"]
    assert province.systems == 7
    unclassified = province.kpis[Kpi.unclassified_on_extranet]
    assert (unclassified.numerator, unclassified.denominator, unclassified.share) == (2, 4, 0.5)
    assert unclassified.target.share == 0.95
    assert unclassified.met is False
    classified = province.kpis[Kpi.classified_on_intranet]
    assert (classified.numerator, classified.denominator, classified.share) == (1, 2, 0.5)
    assert classified.target.share == 0.90
    assert province.by_status == {"migrated": 4, "not_started": 1, "planned": 1, "retired": 1}
    assert province.by_strategy == {"rehost": 1, "replatform": 1, "undecided": 5}

    city_a = figures["city-a"]
    assert city_a.systems == 5
    assert (
        city_a.kpis[Kpi.unclassified_on_extranet].numerator,
        city_a.kpis[Kpi.unclassified_on_extranet].denominator,
    ) == (1, 3)
    assert city_a.kpis[Kpi.classified_on_intranet].share == 1.0
    assert city_a.kpis[Kpi.classified_on_intranet].met is True
    assert figures["dept-b"].kpis[Kpi.unclassified_on_extranet].share == 1.0
    assert figures["dept-b"].kpis[Kpi.classified_on_intranet].share == 0.0

    # A target changed by an operator is what the figures are measured against.
    World.ok(
        client.put(
            "/v1/migration/targets/unclassified_on_extranet",
            headers=operator(world),
            json={"share": 0.5, "due_on": "2027-12-31"},
        )
    )
    body = World.ok(client.get("/v1/migration/progress", headers=operator(world)))
    kpi = _kpi(body, "prov", "unclassified_on_extranet")
    assert kpi == {
        "kpi": "unclassified_on_extranet",
        "numerator": 2,
        "denominator": 4,
        "share": 0.5,
        "target": 0.5,
        "due_on": "2027-12-31",
        "met": True,
    }


def test_department_roles_see_their_subtree_only(
    client: TestClient, world: World, database: Database
) -> None:
    known_inventory(client, world, database)
    reader = world.principal("requester@dept-a")
    listed = World.ok(client.get("/v1/migration/systems", headers=reader))
    assert [s["code"] for s in listed["items"]] == ["a1", "a2", "a3", "a4", "a5"]
    assert client.get("/v1/migration/systems/b1", headers=reader).status_code == 404
    filtered = World.ok(
        client.get("/v1/migration/systems?classification=classified&status=retired", headers=reader)
    )
    assert [s["code"] for s in filtered["items"]] == ["a5"]
    progress = World.ok(client.get("/v1/migration/progress", headers=reader))
    assert [d["department_code"] for d in progress["departments"]] == ["dept-a"]
    assert client.get("/v1/migration/systems?department_code=dept-b", headers=reader).status_code == 404


def test_only_operators_change_the_inventory(client: TestClient, world: World, database: Database) -> None:
    known_inventory(client, world, database)
    admin_a = world.principal("dept_admin@dept-a")
    assert (
        client.patch("/v1/migration/systems/a3", headers=admin_a, json={"strategy": "retire"}).status_code
        == 403
    )
    assert (
        client.patch("/v1/migration/systems/b1", headers=admin_a, json={"strategy": "retire"}).status_code
        == 404
    )
    assert client.post("/v1/migration/systems/a3:assess", headers=admin_a).status_code == 403
    assert import_csv(client, admin_a, [row("new")]).status_code == 403
    assert client.delete("/v1/migration/systems/a3", headers=admin_a).status_code == 403
    assert (
        client.put(
            "/v1/migration/targets/classified_on_intranet", headers=admin_a, json={"share": 0.1}
        ).status_code
        == 403
    )
    ops = operator(world)
    changed = World.ok(
        client.patch(
            "/v1/migration/systems/a3", headers=ops, json={"strategy": "retire", "status": "retired"}
        )
    )
    assert (changed["strategy"], changed["status"]) == ("retire", "retired")
    # The lifecycle holds: a retired system does not come back to be assessed.
    again = client.post("/v1/migration/systems/a3:assess", headers=ops)
    assert again.status_code == 409
    events = World.ok(
        client.get("/v1/audit?action=migration.system.patch", headers=world.principal("auditor"))
    )
    assert [e["target_id"] for e in events["items"]] == ["a3"]
    denied = World.ok(client.get("/v1/audit?outcome=denied", headers=world.principal("auditor")))
    assert any("/v1/migration/systems" in str(e["detail"]) for e in denied["items"])


def test_crud_through_json(client: TestClient, world: World) -> None:
    ops = operator(world)
    body = {
        "code": "geo",
        "name": "GIS portal",
        "department_code": "dept-a",
        "classification": "unclassified",
        "mlps_level": 2,
        "current_location": "city data centre",
        "vcpus": 8,
        "ram_mb": 16384,
        "storage_gb": 500,
        "bandwidth_mbps": 50,
        "criticality": "high",
        "cutover_hours": 6,
        "maintenance_windows": [{"weekday": "sun", "start": "01:00", "end": "05:00"}],
        "blackout_periods": [{"start": "2027-03-01", "end": "2027-03-15"}],
    }
    created = client.post("/v1/migration/systems", headers=ops, json=body)
    assert created.status_code == 201, created.text
    assert client.post("/v1/migration/systems", headers=ops, json=body).status_code == 409
    bad = client.post("/v1/migration/systems", headers=ops, json={**body, "code": "x", "mlps_level": 5})
    assert bad.status_code == 422
    assert bad.json()["field"] == "mlps_level"
    unknown = client.post(
        "/v1/migration/systems", headers=ops, json={**body, "code": "y", "dependencies": [{"code": "nope"}]}
    )
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "dependencies"
    replaced = World.ok(client.put("/v1/migration/systems/geo", headers=ops, json={**body, "vcpus": 16}))
    assert replaced["vcpus"] == 16
    page = World.ok(client.get("/v1/migration/systems?limit=1", headers=ops))
    assert [s["code"] for s in page["items"]] == ["geo"]
    assert client.delete("/v1/migration/systems/geo", headers=ops).status_code == 204
    assert client.get("/v1/migration/systems/geo", headers=ops).status_code == 404
