"""The migration commands: import (all rows or none), export, plan and progress, on the test database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient

from cloudsvc.cli import main
from cloudsvc.db import Database
from tests.migration_support import csv_of, operator, row
from tests.support import World


def test_import_export_plan_and_progress(
    client: TestClient, world: World, database: Database, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"CLOUDSVC_DATABASE_URL": database.url}
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_of([row("a"), row("b", department="nowhere")]))
    refused = runner.invoke(main, ["migration", "import", str(bad)], env=env)
    assert refused.exit_code == 1
    assert "row 3\tdepartment\tunknown department 'nowhere'" in refused.output

    good = tmp_path / "good.csv"
    good.write_bytes(csv_of([row("a"), row("b", depends_on="a:before")]))
    imported = runner.invoke(main, ["migration", "import", str(good)], env=env)
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["created"] == 2

    out = tmp_path / "out.xlsx"
    exported = runner.invoke(main, ["migration", "export", "--format", "xlsx", "-o", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    assert out.read_bytes()[:2] == b"PK"

    World.ok(client.post("/v1/migration/systems:assess", headers=operator(world), json={"codes": ["a", "b"]}))
    planned = runner.invoke(
        main, ["migration", "plan", "--system", "a", "--system", "b", "--start", "2027-01-04"], env=env
    )
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.output)
    assert [list(w["systems"]) for w in plan["waves"]] == [["a"], ["b"]]

    shown = runner.invoke(main, ["migration", "progress"], env=env)
    assert shown.exit_code == 0, shown.output
    province = next(d for d in json.loads(shown.output) if d["department_code"] == "prov")
    assert province["by_status"] == {"planned": 2}
