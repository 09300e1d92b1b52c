"""Migration 0013 merges the quota ledger's rows per class into one row per movement, and back, without
losing an amount; on both backends, each in a database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloudsvc.db import migrate
from tests.conftest import BACKENDS
from tests.schema_migrations import database_below, execute

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
CLASSES = ("servers", "vcpus", "ram_mb", "volumes", "volume_gb", "bandwidth_mbps")
# (request, department, movement, class, amount) as 0002..0012 wrote them: a row per class
PER_CLASS = [
    ("r1", 2, "reserve", "servers", 1),
    ("r1", 2, "reserve", "vcpus", 4),
    ("r1", 2, "reserve", "ram_mb", 8192),
    ("r2", 2, "reserve", "volume_gb", 100),
    ("r1", 2, "activate", "servers", 1),
    ("r1", 2, "activate", "vcpus", 4),
    ("r1", 2, "activate", "ram_mb", 8192),
    ("r2", 2, "reserve", "volumes", 1),  # interleaved with another request's rows
    ("r2", 2, "release", "volumes", 1),
    ("r2", 2, "release", "volume_gb", 100),
]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_below(request, tmp_path, "0012")


def _amounts(request_id: str, movement: str) -> tuple[int, ...]:
    by_class = {cls: amount for r, _, m, cls, amount in PER_CLASS if (r, m) == (request_id, movement)}
    return tuple(by_class.get(cls, 0) for cls in CLASSES)


def test_ledger_rows_merge_into_one_per_movement_and_split_back(url: str) -> None:
    migrate.upgrade(url, "0012")
    execute(
        url,
        "INSERT INTO departments (id, code, name, level, parent_id, path, created_at) "
        "VALUES (:id, :code, :code, :level, :parent, :path, :t)",
        [
            {"id": 1, "code": "prov", "level": "province", "parent": None, "path": "/1/", "t": T0},
            {"id": 2, "code": "dept", "level": "department", "parent": 1, "path": "/1/2/", "t": T0},
        ],
    )
    execute(
        url,
        "INSERT INTO principals (id, name, token_hash, created_at) VALUES ('p', 'p', 'h', :t)",
        [{"t": T0}],
    )
    execute(
        url,
        "INSERT INTO resource_requests (id, department_id, kind, spec, justification, status, "
        "requested_by, created_at, updated_at, waived_stages) "
        "VALUES (:id, 2, 'server', '{}', 'why', 'active', 'p', :t, :t, '[]')",
        [{"id": "r1", "t": T0}, {"id": "r2", "t": T0}],
    )
    execute(
        url,
        "INSERT INTO quota_ledger (request_id, department_id, quota_class, movement, amount, at) "
        "VALUES (:r, :d, :cls, :m, :a, :t)",
        [{"r": r, "d": d, "m": m, "cls": cls, "a": a, "t": T0} for r, d, m, cls, a in PER_CLASS],
    )

    migrate.upgrade(url, "0013")
    merged = execute(
        url, f"SELECT request_id, department_id, movement, {', '.join(CLASSES)} FROM quota_ledger"
    )
    assert sorted(merged) == sorted(
        (r, 2, m, *_amounts(r, m)) for r, m in {(r, m) for r, _, m, _, _ in PER_CLASS}
    )

    migrate.downgrade(url, "0012")
    back = execute(url, "SELECT request_id, department_id, movement, quota_class, amount FROM quota_ledger")
    assert sorted(back) == sorted(PER_CLASS)
    migrate.upgrade(url)
