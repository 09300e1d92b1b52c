from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Integer, String, Table
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


def _class_columns(cls: QuotaClass) -> list[SchemaItem]:
    limit, in_use, reserved = (column_name(cls, f) for f in Field)
    return [
        Column(limit, BigInteger, nullable=True),
        Column(in_use, BigInteger, nullable=False, default=0),
        Column(reserved, BigInteger, nullable=False, default=0),
        CheckConstraint(f"{in_use} >= 0", name=f"{in_use}_not_negative"),
        CheckConstraint(f"{reserved} >= 0", name=f"{reserved}_not_negative"),
        CheckConstraint(f"{limit} IS NULL OR {limit} >= 0", name=f"{limit}_not_negative"),
    ]


# One row per department, its limit and usage (rolled up over its whole subtree) in three columns per quota
# class. One row, not one per class, because an admission locks the requester's whole ancestor chain: a row
# per department means one row lock per level, and a single one on the province, which every admission
# takes. The columns follow QuotaClass; a new class needs a migration adding its three columns.
quota_counters = Table(
    "quota_counters",
    Base.metadata,
    Column("department_id", Integer, ForeignKey("departments.id"), primary_key=True),
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
