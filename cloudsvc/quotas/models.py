from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloudsvc.db import Base, UTCDateTime, utcnow


class QuotaCounter(Base):
    """A department's limit for one class and its usage, rolled up over its whole subtree."""

    __tablename__ = "quota_counters"
    __table_args__ = (
        CheckConstraint("in_use >= 0", name="in_use_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("quota_limit IS NULL OR quota_limit >= 0", name="limit_not_negative"),
    )

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True)
    quota_class: Mapped[str] = mapped_column(String(32), primary_key=True)
    quota_limit: Mapped[int | None] = mapped_column(BigInteger)
    in_use: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)


class QuotaLedgerEntry(Base):
    """One movement of one request's quota in one class. Counters can always be recomputed from these."""

    __tablename__ = "quota_ledger"

    # SQLite auto-increments only an INTEGER primary key.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("resource_requests.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    quota_class: Mapped[str] = mapped_column(String(32))
    movement: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
