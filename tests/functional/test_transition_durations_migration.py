"""Migration 0009 fills in, for the history already recorded, how long each request had been in the
status a transition left; on both backends, each in a database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudsvc.db import migrate
from tests.conftest import BACKENDS
from tests.schema_migrations import database_below, execute

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# (from, to, seconds after submission): two approval stages, then provisioning
HISTORY = [
    (None, "pending_approval", 0),
    ("pending_approval", "pending_approval", 50),
    ("pending_approval", "approved", 120),
    ("approved", "provisioning", 130),
    ("provisioning", "active", 175),
]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_below(request, tmp_path, "0008")


def test_history_gets_the_time_spent_in_each_status_left(url: str) -> None:
    migrate.upgrade(url, "0008")
    execute(
        url,
        "INSERT INTO departments (id, code, name, level, parent_id, path, created_at) "
        "VALUES (1, 'prov', 'prov', 'province', NULL, '/1/', :t)",
        [{"t": T0}],
    )
    execute(
        url,
        "INSERT INTO principals (id, name, token_hash, created_at) VALUES ('p', 'p', 'x', :t)",
        [{"t": T0}],
    )
    for request_id in ("r-1", "r-2"):
        execute(
            url,
            "INSERT INTO resource_requests (id, department_id, kind, spec, justification, status, "
            "requested_by, created_at, updated_at, waived_stages, attempts) "
            "VALUES (:id, 1, 'server', '{}', 'x', 'active', 'p', :t, :t, '[]', 0)",
            [{"id": request_id, "t": T0}],
        )
    # Interleaved, as concurrent requests leave them: each request's history is its own.
    execute(
        url,
        "INSERT INTO request_transitions (request_id, from_status, to_status, actor_name, at) "
        "VALUES (:r, :f, :to, 'alice', :at)",
        [
            {"r": request_id, "f": f, "to": to, "at": T0 + timedelta(seconds=seconds + offset)}
            for f, to, seconds in HISTORY
            for request_id, offset in (("r-1", 0), ("r-2", 1000))
        ],
    )

    migrate.upgrade(url, "0009")
    rows = execute(
        url, "SELECT request_id, to_status, seconds_in_status FROM request_transitions ORDER BY id"
    )
    waited = {
        request_id: [(to, None if s is None else round(float(s), 3)) for r, to, s in rows if r == request_id]  # type: ignore[arg-type]
        for request_id in ("r-1", "r-2")
    }
    expected = [
        ("pending_approval", None),
        ("pending_approval", 50.0),
        ("approved", 120.0),  # since submission: the stage passed at 50 s does not restart the wait
        ("provisioning", 10.0),
        ("active", 45.0),
    ]
    assert waited == {"r-1": expected, "r-2": expected}

    migrate.downgrade(url, "0008")
    migrate.upgrade(url)
