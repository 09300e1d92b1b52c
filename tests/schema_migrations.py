"""Helpers for the tests of schema migrations: a database of its own per backend, and plain SQL on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cloudsvc.db import migrate
from cloudsvc.db.engine import normalise_url
from tests.conftest import throwaway_postgres


def database_below(request: pytest.FixtureRequest, tmp_path: Path, revision: str) -> Iterator[str]:
    """A URL of a new database on the backend ``request.param`` names, at ``revision`` ("base": empty)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrating.db'}"
        return
    with throwaway_postgres() as migrated:
        migrate.downgrade(migrated, revision)
        yield migrated


def execute(url: str, sql: str, rows: list[dict[str, object]] | None = None) -> list[tuple[object, ...]]:
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql), rows or {})
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()
