"""INSERT … ON CONFLICT DO UPDATE on both databases.

``session.merge`` reads and then inserts, so two writers of the same new key both insert and one fails
with a unique violation; an upsert is one statement, and the database settles the race."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloudsvc.db.base import Base


def upsert(
    session: Session,
    model: type[Base],
    values: Mapping[str, Any],
    *,
    keys: Sequence[str],
    changes: Mapping[str, Any] | None = None,
) -> None:
    """Insert ``values``, or where a row with the same ``keys`` exists, set ``changes`` on it (by default
    every value that is not a key)."""
    table = model.__table__
    assert isinstance(table, Table)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    if changes is None:
        changes = {name: value for name, value in values.items() if name not in keys}
    session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=dict(changes)))
