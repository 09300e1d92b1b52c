"""Appending to and verifying the hash-chained audit trail.

Each event has a content digest (SHA-256 of its canonical fields) and a chain hash,
``sha256(f"{previous hash}:{id}:{content digest}")``; ids are gapless. Changing a stored row breaks its
own hash; deleting one leaves a gap; deleting the tail makes the chain disagree with the head row. The head
row could itself be rewritten by someone with database access, which is why operators should export
``GET /v1/audit/verify`` results to an external log.

Appending locks the one-row chain head until the transaction commits, so it is a hot spot shared by every
write. On PostgreSQL the append is therefore a single statement: the head moves and the event is inserted
in one round trip, with the chain hash computed by the database (``sha256``) from the digest we send.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from cloudsvc.audit.models import AuditChainHead, AuditEvent
from cloudsvc.db import UTCDateTime, utcnow

GENESIS_HASH = "0" * 64
HEAD_ID = 1


@dataclass(frozen=True)
class Actor:
    """Who does something: a principal, or the system itself (principal_id None)."""

    principal_id: str | None
    name: str
    http_request_id: str | None = None


SYSTEM = Actor(principal_id=None, name="system")

_CONTENT = (
    "actor_id",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "http_request_id",
    "detail",
)


def content_digest(at: datetime, fields: dict[str, Any]) -> str:
    body = {key: fields[key] for key in _CONTENT}
    body["at"] = at.astimezone(UTC).isoformat(timespec="microseconds")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def link(previous_hash: str, event_id: int, digest: str) -> str:
    return hashlib.sha256(f"{previous_hash}:{event_id}:{digest}".encode()).hexdigest()


# The same link, computed by PostgreSQL while it moves the head: one round trip under the hot lock.
_APPEND_POSTGRES = text(
    """
    WITH head AS (
        UPDATE audit_chain_head
        SET last_event_id = last_event_id + 1,
            last_hash = encode(sha256(convert_to(
                last_hash || ':' || (last_event_id + 1)::text || ':' || :digest, 'UTF8')), 'hex')
        WHERE id = :head_id
        RETURNING last_event_id, last_hash
    )
    INSERT INTO audit_events (id, at, actor_id, actor_name, action, target_type, target_id, outcome,
                              http_request_id, detail, hash)
    SELECT last_event_id, :at, :actor_id, :actor_name, :action, :target_type, :target_id, :outcome,
           :http_request_id, :detail, last_hash
    FROM head
    RETURNING id
    """
).bindparams(bindparam("detail", type_=JSON), bindparam("at", type_=UTCDateTime()))


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one event in the caller's transaction (so it commits or rolls back with the change); its id.

    Call it last in a use case: it locks the chain head until the transaction ends.
    """
    at = utcnow()
    fields = {
        "actor_id": actor.principal_id,
        "actor_name": actor.name,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "outcome": outcome,
        "http_request_id": actor.http_request_id,
        "detail": detail or {},
    }
    digest = content_digest(at, fields)
    if session.get_bind().dialect.name == "postgresql":
        event_id: int = session.execute(
            _APPEND_POSTGRES, {"digest": digest, "head_id": HEAD_ID, "at": at, **fields}
        ).scalar_one()
        return event_id
    # Elsewhere (SQLite) a writer already holds the database lock: read, link, write.
    head = session.execute(select(AuditChainHead).where(AuditChainHead.id == HEAD_ID)).scalar_one()
    event_id = head.last_event_id + 1
    chained = link(head.last_hash, event_id, digest)
    session.execute(insert(AuditEvent).values(id=event_id, at=at, hash=chained, **fields))
    session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(last_event_id=event_id, last_hash=chained)
    )
    session.expire(head)
    return event_id


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


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {key: getattr(event, key) for key in _CONTENT}


def verify(session: Session) -> Verification:
    expected_id, expected_prev, count = 1, GENESIS_HASH, 0
    for event in _events_in_order(session):
        count += 1
        if event.id != expected_id:
            return Verification(False, count, expected_id, f"event {expected_id} is missing")
        if link(expected_prev, event.id, content_digest(event.at, _fields(event))) != event.hash:
            return Verification(False, count, event.id, "the event does not match its hash")
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
