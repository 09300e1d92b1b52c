"""The migration commands on the test database: import (all rows or none), export, plan, progress, assess,
execute (as the principal of CLOUDSVC_TOKEN) and cutover (real ansible-runner runs)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient

from cloudsvc.cli import main
from cloudsvc.db import Database
from tests.migration_support import csv_of, import_csv, operator, row, settle_requests
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


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def test_assess_execute_and_cutover(
    client: TestClient, world: World, database: Database, tmp_path: Path
) -> None:
    runner = CliRunner()
    ops = world.principal("operator", name="ops.li")
    env = {"CLOUDSVC_DATABASE_URL": database.url, "CLOUDSVC_MIGRATION_WORK_DIR": str(tmp_path / "work")}
    World.ok(
        import_csv(client, ops, [row("crm"), row("hr", department="dept-b"), row("old", strategy="retain")])
    )

    neither = runner.invoke(main, ["migration", "assess"], env=env)
    assert neither.exit_code == 2
    assert "give either --system" in neither.output
    assessed = runner.invoke(main, ["migration", "assess", "--department", "dept-a", "--note", "q1"], env=env)
    assert assessed.exit_code == 0, assessed.output
    by_code = {s["code"]: s for s in json.loads(assessed.output)}
    assert sorted(by_code) == ["crm", "old"]  # dept-b's hr is not in dept-a's subtree
    assert (by_code["crm"]["status"], by_code["crm"]["target_zone"], by_code["crm"]["ready"]) == (
        "assessed",
        "ext",
        True,
    )
    assert by_code["old"]["ready"] is False  # retained by strategy: nothing to move
    unknown = runner.invoke(main, ["migration", "assess", "--system", "nowhere"], env=env)
    assert unknown.exit_code == 1
    assert "nowhere" in unknown.output

    planned = runner.invoke(main, ["migration", "plan", "--system", "crm", "--start", "2027-01-04"], env=env)
    assert planned.exit_code == 0, planned.output
    wave_id = str(json.loads(planned.output)["waves"][0]["id"])

    anonymous = runner.invoke(main, ["migration", "execute", wave_id], env=env)
    assert anonymous.exit_code == 1
    assert "CLOUDSVC_TOKEN" in anonymous.output
    as_operator = {**env, "CLOUDSVC_TOKEN": _token(ops)}
    executed = runner.invoke(main, ["migration", "execute", wave_id], env=as_operator)
    assert executed.exit_code == 0, executed.output
    crm = json.loads(executed.output)["systems"]["crm"]
    assert crm["status"] == "provisioning"
    requests = [World.ok(client.get(f"/v1/requests/{rid}", headers=ops)) for rid in crm["request_ids"]]
    assert {r["status"] for r in requests} == {"pending_approval"}
    again = runner.invoke(main, ["migration", "execute", wave_id], env=as_operator)
    assert again.exit_code == 1
    assert "no planned system left" in again.output

    early = runner.invoke(main, ["migration", "cutover", "crm"], env=env)
    assert early.exit_code == 1
    assert "pending_approval" in early.output
    settle_requests(world, database, crm["request_ids"])
    malformed = runner.invoke(main, ["migration", "cutover", "crm", "--var", "novalue"], env=env)
    assert malformed.exit_code == 2
    rehearsed = runner.invoke(
        main, ["migration", "cutover", "crm", "--var", "rehearse_failure_at=prepare"], env=as_operator
    )
    assert rehearsed.exit_code == 1, rehearsed.output
    failed = json.loads(rehearsed.output)
    assert failed["status"] == "rolled_back"
    assert "step prepare failed at task 'Stop here to rehearse a rollback'" in failed["status_reason"]
    assert [(s["step"], s["rollback"], s["outcome"]) for s in failed["steps"]] == [
        ("prepare", False, "failed"),
        ("prepare", True, "ok"),
    ]
    done = runner.invoke(main, ["migration", "cutover", "crm"], env=env)
    assert done.exit_code == 0, done.output
    migrated = json.loads(done.output)
    assert migrated["status"] == "migrated"
    assert [s["step"] for s in migrated["steps"] if s["attempt"] == 2] == [
        "prepare",
        "replicate",
        "test",
        "cutover",
        "validate",
        "decommission_source",
    ]
    events = World.ok(client.get("/v1/audit?limit=500", headers=world.principal("auditor")))["items"]
    actors = {e["action"]: e["actor_name"] for e in events}
    assert actors["migration.wave.execute"] == "ops.li"  # the token's principal, not the CLI
    assert actors["migration.cutover.rollback"] == "ops.li"
    assert actors["migration.cutover.complete"] == "cli"
    not_stuck = runner.invoke(
        main, ["migration", "recover", "crm", "--action", "rollback", "--reason", "drill"], env=env
    )
    assert not_stuck.exit_code == 1
    assert "only a cutover under way can be recovered" in not_stuck.output
    no_action = runner.invoke(main, ["migration", "recover", "crm", "--reason", "drill"], env=env)
    assert no_action.exit_code == 2
