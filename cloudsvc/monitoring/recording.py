"""Figures left in the database for ``GET /metrics`` by whoever sees them happen: the worker (backend
errors, its passes) and the audit verifier. Counters are bumped with one upsert each, so any number of
workers on any number of machines add up without coordination."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from cloudsvc.db import upsert
from cloudsvc.monitoring.models import AuditVerificationResult, BackendErrorCount, WorkerPass
from provisioners import base

VERIFICATION_ROW = 1
FORGET_WORKERS_AFTER = timedelta(days=1)


def error_class(error: base.DriverError) -> str:
    if isinstance(error, base.ZoneUnavailable):
        return "zone_unavailable"
    if isinstance(error, base.TemporaryError):
        return "temporary"
    return "permanent"


def count_backend_error(session: Session, *, zone_id: int, kind: str, error: base.DriverError) -> None:
    upsert(
        session,
        BackendErrorCount,
        {"zone_id": zone_id, "kind": kind, "error": error_class(error), "count": 1},
        keys=["zone_id", "kind", "error"],
        changes={"count": BackendErrorCount.count + 1},
    )


def record_pass(session: Session, *, worker_id: str, at: datetime) -> None:
    upsert(session, WorkerPass, {"worker_id": worker_id, "last_pass_at": at}, keys=["worker_id"])
    # Worker ids are per process: forget those gone for a day rather than keep one row per restart.
    session.execute(delete(WorkerPass).where(WorkerPass.last_pass_at < at - FORGET_WORKERS_AFTER))


def record_verification(session: Session, *, ok: bool, events: int, at: datetime) -> None:
    values = {"id": VERIFICATION_ROW, "ok": ok, "events": events, "verified_at": at}
    upsert(session, AuditVerificationResult, values, keys=["id"])
