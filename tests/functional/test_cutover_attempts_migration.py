"""Migration 0012 gives each legacy system the number of cutover attempts its step records show, so that
the next attempt and any recovery count on from there; on both backends, each in a database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloudsvc.db import migrate
from tests.conftest import BACKENDS
from tests.schema_migrations import database_below, execute

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_below(request, tmp_path, "0011")


def test_systems_count_the_attempts_their_records_show(url: str) -> None:
    migrate.upgrade(url, "0011")
    execute(
        url,
        "INSERT INTO departments (id, code, name, level, parent_id, path, created_at) "
        "VALUES (1, 'prov', 'prov', 'province', NULL, '/1/', :t)",
        [{"t": T0}],
    )
    execute(
        url,
        "INSERT INTO legacy_systems (id, code, name, department_id, classification, mlps_level, "
        "current_location, vcpus, ram_mb, storage_gb, bandwidth_mbps, criticality, cutover_hours, "
        "maintenance_windows, blackout_periods, status, created_at, updated_at) "
        "VALUES (:id, :code, :code, 1, 'unclassified', 2, 'room', 1, 1024, 10, 1, 'low', 1, '[]', '[]', "
        ":status, :t, :t)",
        [
            {"id": 1, "code": "twice", "status": "rolled_back", "t": T0},
            {"id": 2, "code": "never", "status": "not_started", "t": T0},
        ],
    )
    execute(
        url,
        "INSERT INTO cutover_steps (system_id, attempt, step, rollback, playbook, outcome, stdout, events, "
        "started_at, finished_at) VALUES (1, :attempt, 'prepare', :rollback, 'prepare.yml', 'ok', '', "
        "'[]', :t, :t)",
        [
            {"attempt": 1, "rollback": False, "t": T0},
            {"attempt": 2, "rollback": False, "t": T0},
            {"attempt": 2, "rollback": True, "t": T0},
        ],
    )

    migrate.upgrade(url, "0012")
    rows = execute(url, "SELECT code, cutover_attempts FROM legacy_systems ORDER BY id")
    assert rows == [("twice", 2), ("never", 0)]

    migrate.downgrade(url, "0011")
    migrate.upgrade(url)
