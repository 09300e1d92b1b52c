"""Every department's quota figures at once, for monitoring.

The one place outside ``service`` that reads the counters table: whoever changes how counters are stored
changes this function and nothing in ``cloudsvc.monitoring``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from cloudsvc.departments.models import Department
from cloudsvc.quotas.models import QuotaCounter


class DepartmentUsage(NamedTuple):
    """One department's figures in one quota class, rolled up over its subtree, in the class's own unit."""

    department_code: str
    parent_code: str | None
    level: str
    quota_class: str
    limit: int | None  # None: no limit of its own
    in_use: int
    reserved: int


def all_usage(session: Session) -> Iterator[DepartmentUsage]:
    """All departments and classes, in one query (no query per department)."""
    parent = aliased(Department)
    query = (
        select(
            Department.code,
            parent.code,
            Department.level,
            QuotaCounter.quota_class,
            QuotaCounter.quota_limit,
            QuotaCounter.in_use,
            QuotaCounter.reserved,
        )
        .join(Department, Department.id == QuotaCounter.department_id)
        .outerjoin(parent, parent.id == Department.parent_id)
    )
    # Core execution (not the ORM's result machinery): tens of thousands of plain rows, fetched fast.
    for row in session.connection().execute(query):
        yield DepartmentUsage._make(row)
