from __future__ import annotations

from fastapi import APIRouter, status

from cloudsvc.api.deps import CallerDep, Cursor, Limit, SessionDep
from cloudsvc.api.params import DepartmentCodePath, OptionalCodeQuery
from cloudsvc.departments import service
from cloudsvc.departments.models import Department
from cloudsvc.departments.schemas import DepartmentCreate, DepartmentOut, DepartmentPage
from cloudsvc.pagination import decode_cursor, encode_cursor

router = APIRouter(prefix="/v1/departments", tags=["departments"])


def _out(department: Department, parent_code: str | None) -> DepartmentOut:
    return DepartmentOut(
        code=department.code,
        name=department.name,
        level=department.level,
        parent_code=parent_code,
        depth=department.depth,
        created_at=department.created_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, name="departments.create")
def create_department(body: DepartmentCreate, session: SessionDep, caller: CallerDep) -> DepartmentOut:
    department = service.create(session, caller, body)
    session.commit()
    return _out(department, body.parent_code)


@router.get("/{code}", name="departments.get")
def get_department(code: DepartmentCodePath, session: SessionDep, caller: CallerDep) -> DepartmentOut:
    department = service.visible(session, caller, code)
    return _out(department, service.parent_codes(session, [department]).get(department.parent_id or 0))


@router.get("", name="departments.list")
def list_departments(
    session: SessionDep,
    caller: CallerDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    parent_code: OptionalCodeQuery = None,
) -> DepartmentPage:
    after = decode_cursor(cursor, str)[0] if cursor else None
    found = service.list_visible(session, caller, parent_code=parent_code, after_code=after, limit=limit)
    parents = service.parent_codes(session, found)
    items = [_out(d, parents.get(d.parent_id or 0)) for d in found]
    return DepartmentPage(
        items=items, next_cursor=encode_cursor(found[-1].code) if len(found) == limit else None
    )
