from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloudsvc.db import Base, UTCDateTime, utcnow
from cloudsvc.departments.models import Department
from cloudsvc.zones.models import Zone


class ResourceRequest(Base):
    __tablename__ = "resource_requests"
    __table_args__ = (
        Index("ix_resource_requests_department_created", "department_id", "created_at"),
        Index("ix_resource_requests_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    # Null for a quota change, which asks for limits rather than resources somewhere.
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"))
    kind: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    classification: Mapped[str | None] = mapped_column(String(16))
    mlps_level: Mapped[int | None]
    justification: Mapped[str] = mapped_column(Text)
    lease_days: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(24))
    # While pending_approval: the stage that must approve next ("department" or "cloud").
    approval_stage: Mapped[str | None] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(ForeignKey("principals.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The auto-approval decision taken at submission: which policy, and which stages it waived.
    approval_policy_id: Mapped[int | None] = mapped_column(ForeignKey("approval_policies.id"))
    waived_stages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The provisioning worker's bookkeeping: who holds the request and until when, when to look again,
    # what it is doing now, since when it has been waiting on an unavailable zone, and why it is cleaning
    # up (a permanent failure whose backend objects must go before the request can end as failed).
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    progress: Mapped[str | None] = mapped_column(Text)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failure_reason: Mapped[str | None] = mapped_column(Text)
    drift: Mapped[str | None] = mapped_column(Text)  # set when the backend lost what it had made

    department: Mapped[Department] = relationship(lazy="joined", innerjoin=True)
    zone: Mapped[Zone | None] = relationship(lazy="joined")
    transitions: Mapped[list[RequestTransition]] = relationship(
        order_by="RequestTransition.id", lazy="selectin", cascade="all, delete-orphan"
    )


class RequestTransition(Base):
    """One step of a request's history: who (or which policy) moved it, when, from where to where, and why."""

    __tablename__ = "request_transitions"
    # The duration histograms of /metrics read (to_status, from_status, seconds_in_status) alone.
    __table_args__ = (
        Index("ix_request_transitions_durations", "to_status", "from_status", "seconds_in_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("resource_requests.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    stage: Mapped[str | None] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(36))
    actor_name: Mapped[str] = mapped_column(String(200))
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("approval_policies.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # How long the request had been in from_status when it moved (None for the first transition): kept
    # so that "submission to approval" and "provisioning to active" are read off one row each.
    seconds_in_status: Mapped[float | None] = mapped_column(Float)


class ApprovalPolicy(Base):
    """Requests whose demand stays within ``max_demand`` skip the listed approval stages.

    Applies to the department it is set on and to every descendant without a policy of its own.
    """

    __tablename__ = "approval_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    max_demand: Mapped[dict[str, int]] = mapped_column(JSON)
    skip_stages: Mapped[list[str]] = mapped_column(JSON)
    set_by: Mapped[str] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class IdempotencyKey(Base):
    """A retried POST with the same key (per principal) returns the first request instead of a second one."""

    __tablename__ = "idempotency_keys"

    principal_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(ForeignKey("resource_requests.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    request: Mapped[ResourceRequest] = relationship()
