from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cloudsvc.db import Base, UTCDateTime, utcnow


class BackendErrorCount(Base):
    """How many driver calls failed, per zone, resource kind and error class (counted by the worker)."""

    __tablename__ = "backend_error_counts"

    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    # temporary | zone_unavailable | permanent
    error: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class BackendUsage(Base):
    """What the backend last reported one resource actually uses (collected by the worker)."""

    __tablename__ = "backend_usage"

    request_id: Mapped[str] = mapped_column(ForeignKey("resource_requests.id"), primary_key=True)
    index: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"))
    kind: Mapped[str] = mapped_column(String(16))
    cpu_seconds: Mapped[float | None] = mapped_column(Float)  # cumulative CPU time
    memory_used_bytes: Mapped[int | None] = mapped_column(BigInteger)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WorkerPass(Base):
    """Each worker's last completed pass: a worker that stops passing is down."""

    __tablename__ = "worker_passes"

    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_pass_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditVerificationResult(Base):
    """The outcome of the latest audit chain verification (one row)."""

    __tablename__ = "audit_verification_results"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    ok: Mapped[bool]
    events: Mapped[int] = mapped_column(BigInteger)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
