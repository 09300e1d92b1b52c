"""Quota use cases that need the department tree as well as the counters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from cloudsvc.departments import service as departments
from cloudsvc.departments.models import Department
from cloudsvc.principals.authz import Caller
from cloudsvc.quotas import service as quotas
from quotas.arithmetic import Shortfall
from quotas.demand import Demand, QuotaClass, demand_of


def show(session: Session, caller: Caller, code: str) -> tuple[Department, list[quotas.ClassView]]:
    department = departments.visible(session, caller, code)
    return department, quotas.view(session, departments.chain(session, department))


def set_limits(
    session: Session, caller: Caller, code: str, limits: Mapping[QuotaClass, int | None]
) -> Department:
    department = departments.visible(session, caller, code)
    quotas.set_limits(session, caller, departments.chain(session, department), limits)
    return department


def dry_run(
    session: Session, caller: Caller, *, department_code: str, kind: str, spec: Mapping[str, Any]
) -> tuple[Demand, list[Shortfall]]:
    """Would this request fit now, and if not, where? Takes no locks and changes nothing."""
    department = departments.visible(session, caller, department_code, field="department_code")
    demand = demand_of(kind, spec)
    return demand, quotas.check(session, departments.chain(session, department), demand)
