"""A cutover step that fails rolls back and says why, through real ansible-runner runs of the playbooks in
ansible/cutover: the step asked to fail (``rehearse_failure_at``) is undone first, then every step that
completed, in reverse order; the system ends rolled_back naming the failing task and its message, and
every run, forward or backward, is recorded with Ansible's output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudsvc.config import Settings
from cloudsvc.db import Database
from tests.migration_support import operator, provisioned_system
from tests.support import World

REHEARSAL_TASK = "Stop here to rehearse a rollback"
PLAYS = {  # each playbook's play name, as ansible-playbook prints it
    "prepare.yml": "Prepare the cutover",
    "replicate.yml": "Replicate the source system's data",
    "test.yml": "Test the replica",
    "cutover.yml": "Switch the system over to the cloud",
    "rollback_cutover.yml": "Switch the system back to its source",
    "rollback_test.yml": "Forget the test",
    "rollback_replicate.yml": "Drop the replica",
    "rollback_prepare.yml": "Undo the preparation",
}


@pytest.fixture
def work_dir(tmp_path: Path, settings: Settings) -> Path:
    settings.migration_work_dir = tmp_path / "work"
    return settings.migration_work_dir


def test_a_failing_step_is_undone_with_every_completed_step_in_reverse_order(
    client: TestClient, world: World, database: Database, work_dir: Path, tmp_path: Path
) -> None:
    ops = operator(world)
    provisioned_system(client, world, database)
    source = tmp_path / "source"
    source.mkdir()
    (source / "data.txt").write_text("records\n")

    result = World.ok(
        client.post(
            "/v1/migration/systems/crm:cutover",
            headers=ops,
            json={"extravars": {"source_dir": str(source), "rehearse_failure_at": "cutover"}},
        )
    )

    steps: list[dict[str, Any]] = result["steps"]
    assert [(s["playbook"], s["outcome"]) for s in steps] == [
        ("prepare.yml", "ok"),
        ("replicate.yml", "ok"),
        ("test.yml", "ok"),
        ("cutover.yml", "failed"),
        # the failed step first (it had switched the site before failing), then the rest backwards
        ("rollback_cutover.yml", "ok"),
        ("rollback_test.yml", "ok"),
        ("rollback_replicate.yml", "ok"),
        ("rollback_prepare.yml", "ok"),
    ]
    assert [s["rollback"] for s in steps] == [False] * 4 + [True] * 4
    assert {s["attempt"] for s in steps} == {1}
    # Each run's own output is kept: its play, its tasks as events, and the recap.
    for step in steps:
        assert f"PLAY [{PLAYS[step['playbook']]}]" in step["stdout"], step["playbook"]
        assert "PLAY RECAP" in step["stdout"]
        assert step["events"], step["playbook"]
        assert all(e["host"] == "localhost" for e in step["events"])
        assert step["started_at"] <= step["finished_at"]
    assert [s["started_at"] for s in steps] == sorted(s["started_at"] for s in steps)

    failed = steps[3]
    message = "rollback rehearsal: crm stops after step cutover as asked (rehearse_failure_at)"
    assert failed["failed_task"] == REHEARSAL_TASK
    assert failed["message"] == message
    assert [e["event"] for e in failed["events"]] == ["runner_on_ok", "runner_on_failed"]
    assert "fatal: [localhost]: FAILED!" in failed["stdout"]
    assert all(s["failed_task"] is None and s["message"] is None for s in steps if s["outcome"] == "ok")

    assert result["status"] == "rolled_back"
    assert result["status_reason"] == f"step cutover failed at task {REHEARSAL_TASK!r}: {message}"
    shown = World.ok(client.get("/v1/migration/systems/crm", headers=ops))
    assert (shown["status"], shown["status_reason"]) == ("rolled_back", result["status_reason"])
    assert World.ok(client.get("/v1/migration/systems/crm/cutover", headers=ops))["steps"] == steps

    # The rollbacks really ran on the host: the site points back at the source, every marker is gone.
    system_dir = work_dir / "crm"
    assert (system_dir / "active_site").read_text() == "source\n"
    assert sorted(p.name for p in system_dir.iterdir()) == ["active_site"]

    events = World.ok(client.get("/v1/audit?limit=500", headers=world.principal("auditor")))["items"]
    rollback = next(e for e in events if e["action"] == "migration.cutover.rollback")
    assert rollback["target_id"] == "crm"
    assert rollback["detail"]["failed_step"] == "cutover"
    assert rollback["detail"]["failed_task"] == REHEARSAL_TASK
    assert rollback["detail"]["rolled_back"] == ["cutover", "test", "replicate", "prepare"]
    assert rollback["detail"]["rollback_failed"] == []
