from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from cloudsvc.api.deps import CallerDep, Cursor, Limit, SessionDep
from cloudsvc.api.params import UTCDatetimeQuery
from cloudsvc.audit import service
from cloudsvc.audit.schemas import AuditEventOut, AuditPage, VerificationOut
from cloudsvc.errors import Forbidden
from cloudsvc.pagination import decode_cursor, encode_cursor
from cloudsvc.principals.authz import Caller, Permission

router = APIRouter(prefix="/v1/audit", tags=["audit"])

Word = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,200}$")]


def _require_auditor(caller: Caller) -> None:
    # The trail spans every department, so reading it is for auditors of the whole cloud.
    if not caller.may_cloud_wide(Permission.audit_read):
        raise Forbidden("only an auditor of the whole cloud may read the audit trail")


@router.get("", name="audit.list")
def list_audit_events(
    session: SessionDep,
    caller: CallerDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    actor_id: Word = None,
    action: Word = None,
    target_type: Word = None,
    target_id: Word = None,
    outcome: Literal["success", "denied", "rejected", "error"] | None = None,
    since: UTCDatetimeQuery | None = None,
    until: UTCDatetimeQuery | None = None,
) -> AuditPage:
    _require_auditor(caller)
    before = decode_cursor(cursor, int)[0] if cursor else None
    where = service.AuditFilter(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        since=since,
        until=until,
    )
    events = service.list_events(session, where=where, before_id=before, limit=limit)
    return AuditPage(
        items=[AuditEventOut.model_validate(e, from_attributes=True) for e in events],
        next_cursor=encode_cursor(events[-1].id) if len(events) == limit else None,
    )


@router.get("/verify", name="audit.verify")
def verify_audit_chain(session: SessionDep, caller: CallerDep) -> VerificationOut:
    _require_auditor(caller)
    result = service.verify(session)
    return VerificationOut(
        ok=result.ok, events=result.events, first_bad_event=result.first_bad_event, problem=result.problem
    )
