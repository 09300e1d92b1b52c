"""Figures left in the database for ``GET /metrics`` by whoever sees them happen: the worker (backend
errors, its passes) and the audit verifier. Counters are bumped with one upsert each, so any number of
workers on any number of machines add up without coordination."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloudsvc.monitoring.models import AuditVerificationResult, BackendErrorCount, WorkerPass
from provisioners import base

VERIFICATION_ROW = 1
FORGET_WORKERS_AFTER = timedelta(days=1)


def _upsert(
    session: Session, table: Table, values: dict[str, Any], keys: list[str], changes: dict[str, Any]
) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))


def error_class(error: base.DriverError) -> str:
    if isinstance(error, base.ZoneUnavailable):
        return "zone_unavailable"
    if isinstance(error, base.TemporaryError):
        return "temporary"
    return "permanent"


def count_backend_error(session: Session, *, zone_id: int, kind: str, error: base.DriverError) -> None:
    table = BackendErrorCount.__table__
    assert isinstance(table, Table)
    _upsert(
        session,
        table,
        {"zone_id": zone_id, "kind": kind, "error": error_class(error), "count": 1},
        ["zone_id", "kind", "error"],
        {"count": table.c["count"] + 1},
    )


def record_pass(session: Session, *, worker_id: str, at: datetime) -> None:
    table = WorkerPass.__table__
    assert isinstance(table, Table)
    _upsert(session, table, {"worker_id": worker_id, "last_pass_at": at}, ["worker_id"], {"last_pass_at": at})
    # Worker ids are per process: forget those gone for a day rather than keep one row per restart.
    session.execute(delete(WorkerPass).where(WorkerPass.last_pass_at < at - FORGET_WORKERS_AFTER))


def record_verification(session: Session, *, ok: bool, events: int, at: datetime) -> None:
    table = AuditVerificationResult.__table__
    assert isinstance(table, Table)
    values = {"id": VERIFICATION_ROW, "ok": ok, "events": events, "verified_at": at}
    _upsert(session, table, values, ["id"], {"ok": ok, "events": events, "verified_at": at})
