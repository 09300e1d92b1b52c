"""Appending to and verifying the hash-chained audit trail.

Each event's hash covers its own fields and the previous event's hash, and ids are gapless. Changing a stored
row breaks its own hash; deleting one leaves a gap or breaks the next event's link; deleting the tail makes
the chain disagree with the head row. The head row could itself be rewritten by someone with database
access, which is why operators should export ``GET /v1/audit/verify`` results to an external log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudsvc.audit.models import AuditChainHead, AuditEvent
from cloudsvc.db import utcnow

GENESIS_HASH = "0" * 64
HEAD_ID = 1


@dataclass(frozen=True)
class Actor:
    """Who does something: a principal, or the system itself (principal_id None)."""

    principal_id: str | None
    name: str
    http_request_id: str | None = None


SYSTEM = Actor(principal_id=None, name="system")


def _digest(event: AuditEvent) -> str:
    body = {
        "id": event.id,
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": event.outcome,
        "http_request_id": event.http_request_id,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (so it commits or rolls back with the change).

    Call it last in a use case: it locks the chain head until the transaction ends.
    """
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.id == HEAD_ID).with_for_update()
    ).scalar_one()
    event = AuditEvent(
        id=head.last_event_id + 1,
        at=utcnow(),
        actor_id=actor.principal_id,
        actor_name=actor.name,
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        http_request_id=actor.http_request_id,
        detail=detail or {},
        prev_hash=head.last_hash,
    )
    event.hash = _digest(event)
    head.last_event_id = event.id
    head.last_hash = event.hash
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    first_bad_event: int | None
    problem: str | None


def _events_in_order(session: Session) -> Iterator[AuditEvent]:
    last_id = 0
    while True:  # keyset batches keep memory flat however long the trail grows
        batch = session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(1000)
        ).all()
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id
        session.expunge_all()


def verify(session: Session) -> Verification:
    expected_id, expected_prev, count = 1, GENESIS_HASH, 0
    for event in _events_in_order(session):
        count += 1
        if event.id != expected_id:
            return Verification(False, count, expected_id, f"event {expected_id} is missing")
        if event.prev_hash != expected_prev:
            return Verification(False, count, event.id, "link to the previous event is broken")
        if _digest(event) != event.hash:
            return Verification(False, count, event.id, "event content does not match its hash")
        expected_id, expected_prev = event.id + 1, event.hash
    head = session.get(AuditChainHead, HEAD_ID)
    last_id = expected_id - 1
    if head is None:
        return Verification(False, count, None, "the chain head row is missing")
    if head.last_event_id > last_id:
        return Verification(
            False, count, last_id + 1, f"events {last_id + 1}..{head.last_event_id} are missing"
        )
    if head.last_event_id != last_id or head.last_hash != expected_prev:
        return Verification(False, count, last_id, "the chain does not end where the head says")
    return Verification(True, count, None, None)


@dataclass(frozen=True)
class AuditFilter:
    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_events(
    session: Session, *, where: AuditFilter, before_id: int | None, limit: int
) -> Sequence[AuditEvent]:
    """Newest first, keyset-paginated by id."""
    query = select(AuditEvent)
    for column, value in (
        (AuditEvent.actor_id, where.actor_id),
        (AuditEvent.action, where.action),
        (AuditEvent.target_type, where.target_type),
        (AuditEvent.target_id, where.target_id),
        (AuditEvent.outcome, where.outcome),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.at < where.until)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)).all()
