from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, SmallInteger, String, Table
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


def _ledger_columns() -> list[SchemaItem]:
    return [Column(cls.value, BigInteger, nullable=False, default=0) for cls in QuotaClass]


# One movement (reserve, activate, release, free) of one request's quota: the amount of every class in one
# row, a column per class like the counters, so an admission writes one row, not one per class. Counters can
# always be recomputed from these (cloudsvc.quotas.reconcile). A request makes each movement at most once.
quota_ledger = Table(
    "quota_ledger",
    Base.metadata,
    # SQLite auto-increments only an INTEGER primary key.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("request_id", String(36), ForeignKey("resource_requests.id"), nullable=False, index=True),
    Column("department_id", Integer, ForeignKey("departments.id"), nullable=False, index=True),
    Column("movement", String(16), nullable=False),
    Column("at", UTCDateTime(), nullable=False, default=utcnow),
    *_ledger_columns(),
)
