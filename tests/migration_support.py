"""Helpers for the migration tests: inventory rows, CSV files, and an operator."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient

from cloudsvc.migration.tabular import COLUMNS
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
