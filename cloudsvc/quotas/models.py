from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, SmallInteger, String, Table
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.schema import SchemaItem

from cloudsvc.db import Base, UTCDateTime, utcnow
from quotas.demand import QuotaClass


class Field(StrEnum):
    """What a department's counters hold per quota class; a column is named ``<class>_<field>``."""

    limit = "limit"
    in_use = "in_use"
    reserved = "reserved"


def column_name(cls: QuotaClass, field: Field) -> str:
    return f"{cls.value}_{field.value}"


def share_column(cls: QuotaClass) -> str:
    """A stripe's share of the department's limit in ``cls`` (see quota_counters)."""
    return f"{cls.value}_share"


def _class_columns(cls: QuotaClass) -> list[SchemaItem]:
    limit, in_use, reserved = (column_name(cls, f) for f in Field)
    return [
        Column(limit, BigInteger, nullable=True),
        Column(share_column(cls), BigInteger, nullable=True),
        Column(in_use, BigInteger, nullable=False, default=0),
        Column(reserved, BigInteger, nullable=False, default=0),
    ]


# A department's limit and usage (rolled up over its whole subtree), three columns per quota class, in one
# row or, for the departments that every admission below them passes through, several (stripes): each
# stripe carries the limit and a share of it, the shares summing to no more than the limit, and the
# department's usage is the sum over its stripes (a stripe's own figures may be negative). Columns,
# not a row per class, because an admission locks one row per level of the requester's chain; stripes,
# because otherwise that is the one province row for every admission. See migration 0008 and
# cloudsvc.quotas.service. The columns follow QuotaClass; a new class needs a migration adding its three.
quota_counters = Table(
    "quota_counters",
    Base.metadata,
    Column("department_id", Integer, ForeignKey("departments.id"), primary_key=True),
    Column("stripe", SmallInteger, primary_key=True, default=0, server_default="0"),
    *(item for cls in QuotaClass for item in _class_columns(cls)),
)


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
