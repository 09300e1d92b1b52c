"""Transitions the control plane drives itself, as the provisioning worker moves a request along.

The seam for the provisioning engine: ``claimable`` lists what awaits it, and the other functions record
what it did. Each takes the request row lock, so two workers cannot move one request at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.audit.service import SYSTEM, Actor
from cloudsvc.db import utcnow
from cloudsvc.errors import NotFound
from cloudsvc.resource_requests import accounting
from cloudsvc.resource_requests.lifecycle import Status
from cloudsvc.resource_requests.models import ResourceRequest

# Requests in these states wait for the provisioning engine to act.
AWAITING_WORKER = (Status.approved, Status.provisioning, Status.decommissioning)


def claimable(session: Session, *, limit: int = 50) -> Sequence[str]:
    """Ids of requests that await the worker, oldest first."""
    query = (
        select(ResourceRequest.id)
        .where(ResourceRequest.status.in_(AWAITING_WORKER))
        .order_by(ResourceRequest.updated_at)
        .limit(limit)
    )
    return session.scalars(query).all()


def _locked(session: Session, request_id: str) -> ResourceRequest:
    request = (
        session.scalars(
            select(ResourceRequest)
            .where(ResourceRequest.id == request_id)
            .with_for_update(of=ResourceRequest)
        )
        .unique()
        .one_or_none()
    )
    if request is None:
        raise NotFound("request", request_id)
    return request


def _move(
    session: Session, request_id: str, to: Status, *, reason: str | None, actor: Actor, action: str
) -> ResourceRequest:
    request = _locked(session, request_id)
    accounting.move(session, request, to, actor=actor, reason=reason)
    if to == Status.active and request.lease_days is not None:
        request.lease_expires_at = utcnow() + timedelta(days=request.lease_days)
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type="request",
        target_id=request.id,
        detail={"status": to.value, "reason": reason},
    )
    return request


def begin_provisioning(session: Session, request_id: str, *, actor: Actor = SYSTEM) -> ResourceRequest:
    return _move(
        session, request_id, Status.provisioning, reason=None, actor=actor, action="request.provision"
    )


def mark_active(session: Session, request_id: str, *, actor: Actor = SYSTEM) -> ResourceRequest:
    return _move(session, request_id, Status.active, reason=None, actor=actor, action="request.activate")


def mark_failed(session: Session, request_id: str, *, reason: str, actor: Actor = SYSTEM) -> ResourceRequest:
    return _move(session, request_id, Status.failed, reason=reason, actor=actor, action="request.fail")


def mark_decommissioned(session: Session, request_id: str, *, actor: Actor = SYSTEM) -> ResourceRequest:
    return _move(
        session, request_id, Status.decommissioned, reason=None, actor=actor, action="request.decommissioned"
    )


def begin_decommissioning(session: Session, request_id: str, *, actor: Actor = SYSTEM) -> ResourceRequest:
    """The lease ran out: the resources go, as if their owner had asked."""
    return _move(
        session,
        request_id,
        Status.decommissioning,
        reason="lease expired",
        actor=actor,
        action="request.expire",
    )
