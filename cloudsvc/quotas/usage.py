"""Every department's quota figures at once, for monitoring.

Reads the counters through ``service.totals``: whoever changes how counters are stored
changes this function and nothing in ``cloudsvc.monitoring``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from cloudsvc.departments.models import Department
from cloudsvc.quotas.models import Field, column_name
from cloudsvc.quotas.service import totals
from quotas.demand import QuotaClass


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
    counters = totals().subquery()
    figures = [counters.c[column_name(cls, field)] for cls in QuotaClass for field in Field]
    query = (
        select(Department.code, parent.code, Department.level, *figures)
        .join(Department, Department.id == counters.c.department_id)
        .outerjoin(parent, parent.id == Department.parent_id)
    )
    # Core execution (not the ORM's result machinery): tens of thousands of plain rows, fetched fast.
    per_class = len(Field)
    for code, parent_code, level, *values in session.connection().execute(query):
        for i, cls in enumerate(QuotaClass):
            limit, in_use, reserved = values[i * per_class : (i + 1) * per_class]
            yield DepartmentUsage(code, parent_code, level, cls.value, limit, in_use, reserved)
