from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from cloudsvc.api.deps import CallerDep, SessionDep
from cloudsvc.api.params import DepartmentCodePath
from cloudsvc.quotas import flows
from cloudsvc.quotas.schemas import (
    QuotaCheckIn,
    QuotaCheckOut,
    QuotaClassOut,
    QuotaLimitsIn,
    QuotaOut,
    ShortfallOut,
)

router = APIRouter(prefix="/v1", tags=["quotas"])


def _show(session: SessionDep, caller: CallerDep, code: str) -> QuotaOut:
    department, views = flows.show(session, caller, code)
    return QuotaOut(
        department_code=department.code,
        classes={
            v.quota_class: QuotaClassOut(
                limit=v.limit,
                in_use=v.in_use,
                reserved=v.reserved,
                available=v.available,
                headroom=v.headroom,
                headroom_department=v.headroom_department,
            )
            for v in views
        },
    )


@router.get("/departments/{code}/quotas", name="quotas.get")
def get_quotas(code: DepartmentCodePath, session: SessionDep, caller: CallerDep) -> QuotaOut:
    return _show(session, caller, code)


@router.put("/departments/{code}/quotas", name="quotas.put")
def put_quotas(
    code: DepartmentCodePath, body: QuotaLimitsIn, session: SessionDep, caller: CallerDep
) -> QuotaOut:
    flows.set_limits(session, caller, code, body.limits)
    session.commit()
    return _show(session, caller, code)


@router.post("/quotas/check", name="quotas.check")
def check_quota(
    body: Annotated[QuotaCheckIn, Body()], session: SessionDep, caller: CallerDep
) -> QuotaCheckOut:
    demand, short = flows.dry_run(
        session, caller, department_code=body.department_code, kind=body.kind, spec=body.spec.model_dump()
    )
    return QuotaCheckOut(
        fits=not short,
        demand=demand,
        shortfalls=[
            ShortfallOut(
                department_code=s.department,
                quota_class=s.quota_class,
                requested=s.requested,
                limit=s.limit,
                in_use=s.in_use,
                reserved=s.reserved,
                available=s.available,
                short_by=s.short_by,
            )
            for s in short
        ],
    )
