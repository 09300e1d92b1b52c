"""A cutover whose run died mid-step stays cutting_over; once silent for long enough, an operator takes it
over and rolls it back or resumes it, audited. The runs are real ``cloudsvc migration cutover`` processes
driving real ansible-runner runs: one killed with everything it started (as a node dies), one stopped (as
a process stalls) and woken after the takeover, when it must write nothing more."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cloudsvc.config import Settings
from cloudsvc.db import Database, utcnow
from cloudsvc.migration import cutover
from cloudsvc.migration.models import LegacySystem
from tests.ansible.test_baseline_crash import descendants
from tests.migration_support import provisioned_system
from tests.support import Headers, World
from tests.worker_processes import WORKER as CLI

BUDGET_S = 240  # for a busy machine to get a cutover process as far as its test step


def hold_in(step: str, tmp_path: Path, settings: Settings) -> Path:
    """ansible/cutover, with ``step`` saying it has started and then waiting for a release file: a run that
    is surely in the middle of that step when the test kills or stops it."""
    copy = tmp_path / "playbooks"
    shutil.copytree(settings.migration_playbook_dir, copy)
    held = copy / f"{step}.yml"
    held.write_text(
        held.read_text().replace(
            "  tasks:\n",
            "  tasks:\n"
            "    - name: Say the step has started\n"
            "      ansible.builtin.copy:\n"
            '        dest: "{{ work_dir }}/holding"\n'
            '        content: "started\\n"\n'
            '        mode: "0640"\n'
            "    - name: Wait to be released\n"
            "      ansible.builtin.wait_for:\n"
            '        path: "{{ work_dir }}/release"\n'
            "        timeout: 600\n",
            1,
        )
    )
    settings.migration_playbook_dir = copy
    settings.migration_work_dir = tmp_path / "work"
    return copy


@pytest.fixture
def playbook_dir(tmp_path: Path, settings: Settings) -> Path:
    return hold_in("test", tmp_path, settings)


@contextmanager
def cutover_process(
    database: Database, settings: Settings, token: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``cloudsvc migration cutover crm`` in a process of its own, as the operator of ``token``."""
    env = {
        **os.environ,
        "CLOUDSVC_DATABASE_URL": database.url,
        "CLOUDSVC_MIGRATION_PLAYBOOK_DIR": str(settings.migration_playbook_dir),
        "CLOUDSVC_MIGRATION_WORK_DIR": str(settings.migration_work_dir),
        "CLOUDSVC_TOKEN": token,
    }
    with log.open("wb") as out:
        process = subprocess.Popen([CLI, "migration", "cutover", "crm"], env=env, stdout=out, stderr=out)
    try:
        started = settings.migration_work_dir / "crm" / "holding"
        deadline = time.monotonic() + BUDGET_S
        while not started.exists():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            kill_all(process)


def kill_all(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and everything it started (ansible-playbook runs in a session of its own)."""
    for pid in [*descendants(process.pid), process.pid]:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(pid, signal.SIGKILL)
    process.wait()


def fall_silent(database: Database) -> None:
    """The run's process is gone; instead of waiting out STALE_AFTER, move its last heartbeat back."""
    with database.transaction() as session:
        session.execute(
            update(LegacySystem)
            .where(LegacySystem.code == "crm")
            .values(cutover_heartbeat_at=utcnow() - cutover.STALE_AFTER - timedelta(seconds=1))
        )


def token_of(headers: Headers) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def recover(client: TestClient, ops: Headers, action: str, reason: str) -> Any:
    return client.post(
        "/v1/migration/systems/crm:recover", headers=ops, json={"action": action, "reason": reason}
    )


def recorded(client: TestClient, ops: Headers) -> list[tuple[str, bool, str]]:
    steps = World.ok(client.get("/v1/migration/systems/crm/cutover", headers=ops))["steps"]
    return [(s["step"], s["rollback"], s["outcome"]) for s in steps]


def audit_events(client: TestClient, world: World, action: str) -> list[dict[str, Any]]:
    events = World.ok(client.get("/v1/audit?limit=500", headers=world.principal("auditor")))["items"]
    return [e for e in events if e["action"] == action]


def test_a_dead_cutover_is_taken_over_and_rolled_back(
    client: TestClient,
    world: World,
    database: Database,
    settings: Settings,
    playbook_dir: Path,
    tmp_path: Path,
) -> None:
    ops = world.principal("operator", name="ops.li")
    provisioned_system(client, world, database)
    with cutover_process(database, settings, token_of(ops), tmp_path / "cutover.log") as process:
        kill_all(process)  # the node dies, with the playbook it was running

    stuck = World.ok(client.get("/v1/migration/systems/crm", headers=ops))
    assert stuck["status"] == "cutting_over"
    assert recorded(client, ops) == [("prepare", False, "ok"), ("replicate", False, "ok")]
    # Just killed, it was heard of moments ago: nobody may take it over yet, nor start another cutover.
    alive = recover(client, ops, "rollback", "node lost")
    assert alive.status_code == 409
    assert "is alive: last heard of at" in alive.json()["detail"]
    again = client.post("/v1/migration/systems/crm:cutover", headers=ops, json={})
    assert again.status_code == 409
    assert "under way" in again.json()["detail"]
    no_reason = recover(client, ops, "rollback", "")
    assert no_reason.status_code == 422
    assert no_reason.json()["field"] == "reason"

    fall_silent(database)
    result = World.ok(recover(client, ops, "rollback", "worker node lost"))
    assert result["status"] == "rolled_back"
    assert (
        result["status_reason"] == "cutover attempt 1 abandoned and rolled back by ops.li: worker node lost"
    )
    # The step that was running is undone too (it had begun), then the completed ones backwards.
    assert recorded(client, ops) == [
        ("prepare", False, "ok"),
        ("replicate", False, "ok"),
        ("test", True, "ok"),
        ("replicate", True, "ok"),
        ("prepare", True, "ok"),
    ]
    assert {s["attempt"] for s in result["steps"]} == {1}
    system_dir = settings.migration_work_dir / "crm"
    assert not (system_dir / "prepared").exists()
    assert not (system_dir / "replicated").exists()
    [takeover] = audit_events(client, world, "migration.cutover.recover")
    assert takeover["actor_name"] == "ops.li"
    assert takeover["detail"]["recovery"] == "rollback"
    assert takeover["detail"]["reason"] == "worker node lost"
    assert takeover["detail"]["completed_steps"] == ["prepare", "replicate"]
    assert takeover["detail"]["abandoned_run"]
    [end] = audit_events(client, world, "migration.cutover.rollback")
    assert end["detail"]["rolled_back"] == ["test", "replicate", "prepare"]
    # Only a cutover under way can be recovered.
    done = recover(client, ops, "resume", "once more")
    assert done.status_code == 409
    assert "only a cutover under way" in done.json()["detail"]


def test_a_stalled_cutover_is_resumed_and_the_stalled_run_writes_nothing_more(
    client: TestClient,
    world: World,
    database: Database,
    settings: Settings,
    playbook_dir: Path,
    tmp_path: Path,
) -> None:
    ops = world.principal("operator", name="ops.li")
    provisioned_system(client, world, database)
    log = tmp_path / "cutover.log"
    with cutover_process(database, settings, token_of(ops), log) as process:
        process.send_signal(signal.SIGSTOP)  # stalled in its test step; its ansible-playbook still waits
        fall_silent(database)
        (settings.migration_work_dir / "crm" / "release").write_text("")

        result = World.ok(recover(client, ops, "resume", "cutover process hung"))
        assert result["status"] == "migrated", result["status_reason"]
        steps = [
            "prepare",
            "replicate",
            "test",  # run again from its start by the takeover
            "cutover",
            "validate",
            "decommission_source",
        ]
        assert recorded(client, ops) == [(step, False, "ok") for step in steps]
        assert {s["attempt"] for s in result["steps"]} == {1}

        process.send_signal(signal.SIGCONT)  # the stalled run wakes up, its test playbook long finished
        assert process.wait(timeout=BUDGET_S) == 1
    assert "was taken over by an operator's recovery" in log.read_text()
    assert recorded(client, ops) == [(step, False, "ok") for step in steps]  # nothing more was written
    shown = World.ok(client.get("/v1/migration/systems/crm", headers=ops))
    assert (shown["status"], shown["status_reason"]) == ("migrated", "cutover attempt 1 completed")
    [takeover] = audit_events(client, world, "migration.cutover.recover")
    assert takeover["detail"]["recovery"] == "resume"
    assert takeover["detail"]["completed_steps"] == ["prepare", "replicate"]
    assert len(audit_events(client, world, "migration.cutover.complete")) == 1


def test_an_attempt_that_died_before_its_first_record_is_recovered_as_itself(
    client: TestClient, world: World, database: Database, settings: Settings, tmp_path: Path
) -> None:
    """The second attempt dies in its first step: its recovery must not take the first attempt's records,
    which show a completed prepare step, for its own."""
    ops = world.principal("operator", name="ops.li")
    provisioned_system(client, world, database)
    hold_in("prepare", tmp_path, settings)
    system_dir = settings.migration_work_dir / "crm"
    system_dir.mkdir(parents=True)
    (system_dir / "release").write_text("")  # the first attempt is not held
    first = World.ok(
        client.post(
            "/v1/migration/systems/crm:cutover",
            headers=ops,
            json={"extravars": {"rehearse_failure_at": "replicate"}},
        )
    )
    assert first["status"] == "rolled_back"
    first_records = recorded(client, ops)
    assert first_records == [
        ("prepare", False, "ok"),
        ("replicate", False, "failed"),
        ("replicate", True, "ok"),
        ("prepare", True, "ok"),
    ]

    (system_dir / "release").unlink()
    (system_dir / "holding").unlink()
    with cutover_process(database, settings, token_of(ops), tmp_path / "cutover.log") as process:
        kill_all(process)  # in the middle of its prepare step: nothing of attempt 2 is recorded yet
    assert recorded(client, ops) == first_records

    fall_silent(database)
    result = World.ok(recover(client, ops, "rollback", "node lost in prepare"))
    assert result["status_reason"] == (
        "cutover attempt 2 abandoned and rolled back by ops.li: node lost in prepare"
    )
    second = [(s["step"], s["rollback"], s["outcome"]) for s in result["steps"] if s["attempt"] == 2]
    assert second == [("prepare", True, "ok")]  # only the step it had begun is undone
    assert recorded(client, ops) == [*first_records, ("prepare", True, "ok")]
    [takeover] = audit_events(client, world, "migration.cutover.recover")
    assert (takeover["detail"]["attempt"], takeover["detail"]["completed_steps"]) == (2, [])
