"""Helpers for the migration tests: inventory rows, CSV files, and an operator."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudsvc.db import Database
from cloudsvc.migration.models import LegacySystem
from cloudsvc.migration.tabular import COLUMNS
from cloudsvc.zones.models import Zone
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
