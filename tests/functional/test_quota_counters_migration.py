"""Migration 0005 moves quota counters from a row per (department, class) to a row per department, and
back, without losing a limit or a count. On both backends, each in a database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudsvc.db import migrate
from tests.conftest import BACKENDS
from tests.schema_migrations import database_below, execute

CLASSES = ("servers", "vcpus", "ram_mb", "volumes", "volume_gb", "bandwidth_mbps")
# (department id, class): (limit, in_use, reserved) in the per-class layout of 0002..0004
PER_CLASS = {
    (d, cls): (None if d == 2 and cls != "vcpus" else 10 * d + i, i, 2 * i + d)
    for d in (1, 2)
    for i, cls in enumerate(CLASSES)
}


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_below(request, tmp_path, "base")


def test_counters_survive_the_move_to_a_row_per_department_and_back(url: str) -> None:
    migrate.upgrade(url, "0004")
    execute(
        url,
        "INSERT INTO departments (id, code, name, level, parent_id, path, created_at) "
        "VALUES (:id, :code, :code, :level, :parent, :path, CURRENT_TIMESTAMP)",
        [
            {"id": 1, "code": "prov", "level": "province", "parent": None, "path": "/1/"},
            {"id": 2, "code": "city", "level": "city", "parent": 1, "path": "/1/2/"},
        ],
    )
    execute(
        url,
        "INSERT INTO quota_counters (department_id, quota_class, quota_limit, in_use, reserved) "
        "VALUES (:d, :cls, :limit, :in_use, :reserved)",
        [
            {"d": d, "cls": cls, "limit": limit, "in_use": in_use, "reserved": reserved}
            for (d, cls), (limit, in_use, reserved) in PER_CLASS.items()
        ],
    )

    migrate.upgrade(url, "0006")
    columns = ", ".join(f"{cls}_{field}" for cls in CLASSES for field in ("limit", "in_use", "reserved"))
    per_department = execute(url, f"SELECT department_id, {columns} FROM quota_counters ORDER BY 1")
    assert per_department == [(d, *(value for cls in CLASSES for value in PER_CLASS[d, cls])) for d in (1, 2)]

    migrate.downgrade(url, "0005")
    back = execute(
        url, "SELECT department_id, quota_class, quota_limit, in_use, reserved FROM quota_counters"
    )
    assert {(d, cls): (limit, in_use, reserved) for d, cls, limit, in_use, reserved in back} == PER_CLASS
    migrate.upgrade(url)
