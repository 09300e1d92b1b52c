"""Helpers for the migration tests: inventory rows, CSV files, an operator, plans, and a system whose wave
was executed and whose resources are (or are not yet) provisioned."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudsvc.db import Database
from cloudsvc.departments.models import Department
from cloudsvc.migration import domain
from cloudsvc.migration.models import LegacySystem
from cloudsvc.migration.schemas import PlanIn
from cloudsvc.migration.tabular import COLUMNS
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from cloudsvc.zones.models import Zone
from migrations_plan.planner import Plan, Wave, violations
from tests.support import Headers, World


def row(code: str, department: str = "dept-a", **overrides: Any) -> dict[str, Any]:
    """One spreadsheet row of a small unclassified system."""
    cells: dict[str, Any] = {
        "code": code,
        "name": f"System {code}",
        "department": department,
        "classification": "unclassified",
        "mlps_level": 2,
        "current_location": "old machine room",
        "vcpus": 4,
        "ram_mb": 8192,
        "storage_gb": 100,
        "bandwidth_mbps": 10,
        "criticality": "medium",
        "cutover_hours": 4,
        "maintenance_windows": "sat 22:00-06:00",
        "blackout_periods": "",
        "strategy": "",
        "depends_on": "",
        "tags": "",
    }
    cells.update(overrides)
    return cells


def csv_of(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for cells in rows:
        writer.writerow(cells)
    return out.getvalue().encode()


def import_csv(client: TestClient, who: Headers, rows: list[dict[str, Any]]) -> Any:
    return client.post(
        "/v1/migration/systems:import",
        headers={**who, "Content-Type": "text/csv"},
        content=csv_of(rows),
    )


def operator(world: World) -> Headers:
    return world.principal("operator")


def place(database: Database, placed: dict[str, tuple[str, str | None]]) -> None:
    """Set systems' statuses and zones directly: the known inventory the KPIs are computed on."""
    with database.transaction() as session:
        zones = {z.name: z for z in session.scalars(select(Zone))}
        for system in session.scalars(select(LegacySystem)).unique():
            status, zone = placed[system.code]
            system.status = status
            system.target_zone = zones[zone] if zone else None


def known_inventory(client: TestClient, world: World, database: Database) -> None:
    """Seven systems in two departments, in statuses and zones whose KPIs the tests know."""
    ops = operator(world)
    rows = [
        row("a1", strategy="rehost"),
        row("a2"),
        row("a3"),
        row("a4", classification="classified", mlps_level=3),
        row("a5", classification="classified"),
        row("b1", department="dept-b", strategy="replatform"),
        row("b2", department="dept-b", classification="classified"),
    ]
    World.ok(import_csv(client, ops, rows))
    place(
        database,
        {
            "a1": ("migrated", "ext"),
            "a2": ("migrated", "int"),  # on the cloud, but not on the extranet the target counts
            "a3": ("not_started", None),
            "a4": ("migrated", "int"),
            "a5": ("retired", None),  # left out of both shares
            "b1": ("migrated", "ext"),
            "b2": ("planned", "int"),  # planned is not moved yet
        },
    )


def plan_body(**overrides: Any) -> dict[str, Any]:
    """A plan request: 14-day waves of two systems from 2027-01-04, Spring Festival blacked out."""
    body: dict[str, Any] = {
        "capacity": {"systems": 2, "vcpus": 64, "storage_gb": 10_000, "cutover_hours": 24},
        "first_wave_starts": "2027-01-04",
        "wave_days": 14,
        "blackouts": [{"start": "2027-02-01", "end": "2027-02-14", "reason": "spring festival"}],
        "method": "auto",
    }
    body.update(overrides)
    return body


def settle_requests(world: World, database: Database, request_ids: list[str]) -> None:
    """Both approval stages, then the provisioning worker on the simulator zones."""
    approvers = (world.principal("dept_approver@prov"), world.principal("cloud_approver"))
    for request_id in request_ids:
        for approver in approvers:
            world.approve(approver, request_id)
    Worker(database, WorkerSettings()).tick()


def executed_system(client: TestClient, ops: Headers, code: str = "crm") -> dict[str, Any]:
    """Import, assess and plan one system, then execute its wave: it is provisioning, requests pending."""
    World.ok(import_csv(client, ops, [row(code, storage_gb=200, bandwidth_mbps=20)]))
    World.ok(client.post(f"/v1/migration/systems/{code}:assess", headers=ops))
    plan = World.ok(client.post("/v1/migration/plans", headers=ops, json=plan_body(systems=[code])))
    wave_id = plan["waves"][0]["id"]
    executed = World.ok(client.post(f"/v1/migration/waves/{wave_id}:execute", headers=ops))
    assert len(executed["systems"]) == 1
    system: dict[str, Any] = executed["systems"][0]
    assert system["status"] == "provisioning"
    return system


def provisioned_system(client: TestClient, world: World, database: Database, code: str = "crm") -> None:
    """A system whose resources are active: ready for its cutover."""
    system = executed_system(client, operator(world), code)
    settle_requests(world, database, system["request_ids"])


def stored_plan(plan: dict[str, Any]) -> Plan:
    """A plan as the API shows it, as the planner's Plan, for its checker."""
    listed = [c for w in plan["waves"] for c in w["systems"]]
    return Plan(
        waves=tuple(
            Wave(
                w["number"],
                date.fromisoformat(w["starts_on"]),
                date.fromisoformat(w["ends_on"]),
                tuple(c["code"] for c in w["systems"]),
            )
            for w in plan["waves"]
        ),
        method=plan["method"],
        optimal=plan["optimal"],
        lower_bound=plan["lower_bound"],
        reasons={c["code"]: c["reason"] for c in listed},
        cutover_starts={
            c["code"]: datetime.fromisoformat(c["cutover_starts"]) if c["cutover_starts"] else None
            for c in listed
        },
    )


def plan_violations(database: Database, body: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    """Check a stored plan against the problem the planner was asked, with the planner's own checker."""
    data = PlanIn.model_validate(body, strict=False)
    codes = [c["code"] for w in plan["waves"] for c in w["systems"]]
    with database.session() as session:
        systems = list(session.scalars(select(LegacySystem).where(LegacySystem.code.in_(codes))).unique())
        named = {code for blackout in data.blackouts for code in blackout.departments}
        subtrees = {
            d.code: d.path for d in session.scalars(select(Department).where(Department.code.in_(named)))
        }
        problem = domain.problem_of(systems, data, subtrees)
    return violations(problem, stored_plan(plan))
