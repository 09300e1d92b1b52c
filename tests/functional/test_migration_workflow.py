"""From inventory to a migrated system: assessment, a wave plan checked against every constraint, wave
execution through the request service, and cutover by real ansible-runner runs that roll back on failure."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudsvc.config import Settings
from cloudsvc.db import Database
from tests.migration_support import (
    executed_system,
    import_csv,
    operator,
    plan_body,
    plan_violations,
    row,
    settle_requests,
)
from tests.support import World


@pytest.fixture
def work_dir(tmp_path: Path, settings: Settings) -> Path:
    settings.migration_work_dir = tmp_path / "work"
    return settings.migration_work_dir


def test_assessment_suggests_a_strategy_and_places_by_the_rules(client: TestClient, world: World) -> None:
    ops = operator(world)
    World.ok(
        import_csv(
            client,
            ops,
            [
                row("open"),
                row("secret", classification="classified", mlps_level=4),
                row("kept", strategy="retain"),
            ],
        )
    )
    response = client.post(
        "/v1/migration/systems:assess", headers=ops, json={"codes": ["open", "secret", "kept"]}
    )
    assert response.status_code == 200, response.text
    assessed: list[dict[str, Any]] = response.json()
    by_code = {s["code"]: s for s in assessed}
    assert by_code["open"]["target_zone"] == "ext"
    assert by_code["secret"]["target_zone"] == "int"
    assert by_code["open"]["suggested_strategy"] == "rehost"
    assert by_code["open"]["status"] == "assessed"
    assert by_code["open"]["readiness"]["ready"] is True
    strategy_check = next(c for c in by_code["kept"]["readiness"]["checks"] if c["check"] == "strategy")
    assert strategy_check["ok"] is False
    # An operator cannot put a classified system in an extranet zone by hand either.
    refused = client.patch("/v1/migration/systems/secret", headers=ops, json={"target_zone": "ext"})
    assert refused.status_code == 422
    assert refused.json()["field"] == "target_zone"


def test_readiness_reports_a_quota_shortfall(client: TestClient, world: World) -> None:
    ops = operator(world)
    World.ok(client.put("/v1/departments/dept-a/quotas", headers=world.admin, json={"limits": {"vcpus": 2}}))
    World.ok(import_csv(client, ops, [row("big", vcpus=8)]))
    assessed = World.ok(client.post("/v1/migration/systems/big:assess", headers=ops))
    quota = next(c for c in assessed["readiness"]["checks"] if c["check"] == "quota")
    assert quota == {"check": "quota", "ok": False, "detail": "dept-a short of 6 vcpus"}
    assert assessed["readiness"]["ready"] is False


def test_a_plan_satisfies_every_constraint(client: TestClient, world: World, database: Database) -> None:
    ops = operator(world)
    rows = [
        row("db", vcpus=16, storage_gb=2000),
        row("api", vcpus=8, depends_on="db:before"),
        row("web", vcpus=4, depends_on="api:same_wave"),
        row("tax", department="dept-b", blackout_periods="2027-01-01..2027-01-31 tax season"),
        row("mail", department="dept-b", depends_on="db"),
        row("hr", department="dept-b", cutover_hours=20),
    ]
    World.ok(import_csv(client, ops, rows))
    codes = [r["code"] for r in rows]
    World.ok(client.post("/v1/migration/systems:assess", headers=ops, json={"codes": codes}))
    body = plan_body(systems=codes)
    plan = World.ok(client.post("/v1/migration/plans", headers=ops, json=body))
    assert plan["method"] in ("heuristic", "cp-sat")
    assert plan["lower_bound"] >= 1
    assert sorted(c["code"] for w in plan["waves"] for c in w["systems"]) == sorted(codes)
    assert all(c["reason"] for w in plan["waves"] for c in w["systems"])
    assert plan == World.ok(client.get(f"/v1/migration/plans/{plan['id']}", headers=ops))

    assert plan_violations(database, body, plan) == []
    wave_of = {c["code"]: w["number"] for w in plan["waves"] for c in w["systems"]}
    assert wave_of["api"] > wave_of["db"]
    assert wave_of["web"] == wave_of["api"]
    assert all(
        not (date(2027, 2, 1) <= date.fromisoformat(w["starts_on"]) <= date(2027, 2, 14))
        for w in plan["waves"]
    )
    statuses = {
        s["code"]: s["status"] for s in World.ok(client.get("/v1/migration/systems", headers=ops))["items"]
    }
    assert set(statuses.values()) == {"planned"}


def test_planning_refuses_unassessed_systems_and_loose_dependencies(client: TestClient, world: World) -> None:
    ops = operator(world)
    World.ok(import_csv(client, ops, [row("db"), row("api", depends_on="db")]))
    unassessed = client.post("/v1/migration/plans", headers=ops, json=plan_body(systems=["api"]))
    assert unassessed.status_code == 422
    assert "api (not_started)" in unassessed.json()["detail"]
    World.ok(client.post("/v1/migration/systems/api:assess", headers=ops))
    outside = client.post("/v1/migration/plans", headers=ops, json=plan_body(systems=["api"]))
    assert outside.status_code == 422
    assert "api → db" in outside.json()["detail"]


def test_executing_a_wave_submits_requests_through_quota_and_approval(
    client: TestClient, world: World, database: Database
) -> None:
    ops = operator(world)
    system = executed_system(client, ops)
    requests = [World.ok(client.get(f"/v1/requests/{rid}", headers=ops)) for rid in system["request_ids"]]
    assert sorted(r["kind"] for r in requests) == ["bandwidth", "server", "volume"]
    assert {r["status"] for r in requests} == {"pending_approval"}
    assert {r["zone"] for r in requests} == {"ext"}
    assert {r["department_code"] for r in requests} == {"dept-a"}
    server = next(r for r in requests if r["kind"] == "server")
    assert (server["spec"]["vcpus"], server["spec"]["ram_mb"]) == (4, 8192)
    quotas = World.ok(client.get("/v1/departments/dept-a/quotas", headers=world.admin))["classes"]
    assert quotas["vcpus"]["reserved"] == 4
    # Cutover waits for the resources.
    early = client.post("/v1/migration/systems/crm:cutover", headers=ops, json={})
    assert early.status_code == 409
    assert "pending_approval" in early.json()["detail"]


def test_a_failing_cutover_step_rolls_back_and_says_why_then_a_retry_migrates(
    client: TestClient, world: World, database: Database, work_dir: Path, tmp_path: Path
) -> None:
    ops = operator(world)
    system = executed_system(client, ops)
    settle_requests(world, database, system["request_ids"])

    failed = World.ok(
        client.post(
            "/v1/migration/systems/crm:cutover",
            headers=ops,
            json={"extravars": {"source_dir": str(tmp_path / "missing")}},
        )
    )
    assert failed["status"] == "rolled_back"
    assert "replicate" in failed["status_reason"]
    assert "Source data directory must exist" in failed["status_reason"]
    assert [(s["step"], s["rollback"], s["outcome"]) for s in failed["steps"]] == [
        ("prepare", False, "ok"),
        ("replicate", False, "failed"),
        ("replicate", True, "ok"),  # the failing step may have done part of its work
        ("prepare", True, "ok"),
    ]
    replicate = failed["steps"][1]
    assert replicate["failed_task"] == "Source data directory must exist"
    assert "does not exist" in replicate["message"]
    assert "fatal" in replicate["stdout"]
    assert not (work_dir / "crm" / "prepared").exists()  # the rollback playbook removed it

    source = tmp_path / "source"
    source.mkdir()
    (source / "data.txt").write_text("records\n")
    done = World.ok(
        client.post(
            "/v1/migration/systems/crm:cutover", headers=ops, json={"extravars": {"source_dir": str(source)}}
        )
    )
    assert done["status"] == "migrated", done["status_reason"]
    second = [s["step"] for s in done["steps"] if s["attempt"] == 2]
    assert second == ["prepare", "replicate", "test", "cutover", "validate", "decommission_source"]
    assert (work_dir / "crm" / "replica" / "data.txt").read_text() == "records\n"
    assert (work_dir / "crm" / "active_site").read_text().strip() == "ext"
    events = World.ok(client.get("/v1/audit?limit=500", headers=world.principal("auditor")))
    actions = [e["action"] for e in events["items"]]
    assert "migration.cutover.rollback" in actions
    assert "migration.cutover.complete" in actions
