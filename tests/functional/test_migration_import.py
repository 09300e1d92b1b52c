"""Importing the inventory from CSV and XLSX: every bad row reported, nothing half-imported; round trips."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from cloudsvc.migration.tabular import COLUMNS, XLSX_TYPE
from tests.migration_support import csv_of, import_csv, operator, row
from tests.support import World


def _codes(client: TestClient, who: dict[str, str]) -> list[str]:
    body = World.ok(client.get("/v1/migration/systems", headers=who))
    return [item["code"] for item in body["items"]]


def test_a_good_file_imports_every_row_with_its_dependencies(client: TestClient, world: World) -> None:
    ops = operator(world)
    rows = [
        row("db", storage_gb=500),
        row("crm", depends_on="db:same_wave"),
        row(
            "portal",
            department="dept-b",
            depends_on="crm; db:before",
            blackout_periods="2027-03-01..2027-05-31 tax season",
        ),
    ]
    result = World.ok(import_csv(client, ops, rows))
    assert result == {"created": 3, "updated": 0, "codes": ["db", "crm", "portal"]}
    portal = World.ok(client.get("/v1/migration/systems/portal", headers=ops))
    assert portal["department_code"] == "dept-b"
    assert portal["status"] == "not_started"
    assert portal["dependencies"] == [
        {"code": "db", "coupling": "before"},
        {"code": "crm", "coupling": "not_after"},
    ]
    assert portal["blackout_periods"] == [
        {"start": "2027-03-01", "end": "2027-05-31", "reason": "tax season"}
    ]
    assert portal["maintenance_windows"] == [{"weekday": "sat", "start": "22:00", "end": "06:00"}]
    # Importing the same codes again updates them.
    again = World.ok(import_csv(client, ops, [row("db", storage_gb=600)]))
    assert again == {"created": 0, "updated": 1, "codes": ["db"]}
    assert World.ok(client.get("/v1/migration/systems/db", headers=ops))["storage_gb"] == 600


def test_bad_rows_are_all_reported_and_nothing_is_imported(client: TestClient, world: World) -> None:
    ops = operator(world)
    rows = [
        row("fine"),
        row("bad-numbers", vcpus="four", mlps_level=7),
        row("nowhere", department="no-such-dept"),
        row("fine"),  # a duplicate code
        row("lonely", depends_on="ghost"),
        row("odd", classification="secret", maintenance_windows="someday"),
    ]
    response = import_csv(client, ops, rows)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problems = {(p["row"], p["column"]) for p in response.json()["errors"]}
    assert {
        (3, "vcpus"),
        (3, "mlps_level"),
        (4, "department"),
        (5, "code"),
        (6, "depends_on"),
        (7, "classification"),
        (7, "maintenance_windows"),
    } <= problems
    by_cell = {(p["row"], p["column"]): p["problem"] for p in response.json()["errors"]}
    assert "no-such-dept" in by_cell[(4, "department")]
    assert "ghost" in by_cell[(6, "depends_on")]
    assert "duplicate" in by_cell[(5, "code")]
    assert _codes(client, ops) == []  # not even the good row


def test_a_dependency_cycle_in_the_file_is_reported_on_its_rows(client: TestClient, world: World) -> None:
    ops = operator(world)
    # A loop of not_after edges only forces one wave; one 'before' in it makes every plan impossible.
    World.ok(import_csv(client, ops, [row("x", depends_on="y"), row("y", depends_on="x")]))
    rows = [row("a", depends_on="b:before"), row("b", depends_on="c"), row("c", depends_on="a"), row("d")]
    response = import_csv(client, ops, rows)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert {(e["row"], e["column"]) for e in errors} == {
        (2, "depends_on"),
        (3, "depends_on"),
        (4, "depends_on"),
    }
    assert all("cycle" in e["problem"] for e in errors)
    assert _codes(client, ops) == ["x", "y"]


def test_a_cycle_closed_through_stored_systems_is_refused(client: TestClient, world: World) -> None:
    ops = operator(world)
    World.ok(import_csv(client, ops, [row("a"), row("b", depends_on="a:before")]))
    response = import_csv(client, ops, [row("a", depends_on="b")])
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["column"] == "depends_on"
    assert World.ok(client.get("/v1/migration/systems/a", headers=ops))["dependencies"] == []


def test_unreadable_uploads_are_a_clear_422(client: TestClient, world: World) -> None:
    ops = operator(world)
    url = "/v1/migration/systems:import"
    missing = client.post(url, headers={**ops, "Content-Type": "text/csv"}, content=b"code,name\nx,y\n")
    assert missing.status_code == 422
    assert "missing columns" in missing.json()["detail"]
    garbage = client.post(url, headers={**ops, "Content-Type": XLSX_TYPE}, content=b"PK\x03\x04 not really")
    assert garbage.status_code == 422
    assert garbage.json()["field"] == "file"
    wrong_type = client.post(url, headers={**ops, "Content-Type": "application/json"}, content=b"{}")
    assert wrong_type.status_code == 422
    assert wrong_type.json()["field"] == "body"
    assert "application/json" in wrong_type.json()["detail"]
    huge = client.post(url, headers={**ops, "Content-Type": "text/csv"}, content=b"x" * (1_048_576 + 1))
    assert huge.status_code == 413


def test_xlsx_round_trip_by_multipart_upload(client: TestClient, world: World) -> None:
    ops = operator(world)
    rows = [
        row("db", classification="classified", mlps_level=4, strategy="replatform"),
        row("crm", depends_on="db:same_wave", maintenance_windows="sat 22:00-06:00; sun 01:00-05:00"),
        row(
            "web",
            department="dept-b",
            cutover_hours=1.5,
            blackout_periods="2027-01-20..2027-02-10 spring festival",
        ),
    ]
    World.ok(import_csv(client, ops, rows))
    exported = client.get("/v1/migration/systems:export?format=xlsx", headers=ops)
    assert exported.status_code == 200
    assert exported.headers["content-type"] == XLSX_TYPE
    sheet = load_workbook(io.BytesIO(exported.content)).worksheets[0]
    table = list(sheet.iter_rows(values_only=True))
    assert list(table[0]) == list(COLUMNS)
    assert len(table) == 4

    before = World.ok(client.get("/v1/migration/systems", headers=ops))["items"]
    for code in ("web", "crm", "db"):
        assert client.delete(f"/v1/migration/systems/{code}", headers=ops).status_code == 204
    assert _codes(client, ops) == []
    result = World.ok(
        client.post(
            "/v1/migration/systems:import",
            headers=ops,
            files={"file": ("systems.xlsx", exported.content, XLSX_TYPE)},
        )
    )
    assert result["created"] == 3
    after = World.ok(client.get("/v1/migration/systems", headers=ops))["items"]
    keep = (
        "code",
        "name",
        "department_code",
        "classification",
        "mlps_level",
        "vcpus",
        "ram_mb",
        "storage_gb",
        "bandwidth_mbps",
        "criticality",
        "cutover_hours",
        "maintenance_windows",
        "blackout_periods",
        "strategy",
        "dependencies",
        "tags",
    )
    assert [{k: s[k] for k in keep} for s in after] == [{k: s[k] for k in keep} for s in before]


def test_an_xlsx_with_bad_cells_reports_spreadsheet_rows(client: TestClient, world: World) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(COLUMNS))
    good = row("ok")
    sheet.append([good[c] for c in COLUMNS])
    bad = row("bad", ram_mb=-5)
    sheet.append([bad[c] for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    response = client.post(
        "/v1/migration/systems:import",
        headers={**operator(world), "Content-Type": XLSX_TYPE},
        content=out.getvalue(),
    )
    assert response.status_code == 422, response.text
    assert [(e["row"], e["column"]) for e in response.json()["errors"]] == [(3, "ram_mb")]


def test_csv_export_lists_what_the_filter_selects(client: TestClient, world: World) -> None:
    ops = operator(world)
    World.ok(import_csv(client, ops, [row("a1"), row("b1", department="dept-b")]))
    exported = client.get("/v1/migration/systems:export?format=csv&department_code=city-b", headers=ops)
    assert exported.status_code == 200
    lines = exported.text.strip().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert [line.split(",")[0] for line in lines[1:]] == ["b1"]
    assert (
        csv_of([row("b1", department="dept-b")]).decode().splitlines()[1].split(",")[:3]
        == lines[1].split(",")[:3]
    )
