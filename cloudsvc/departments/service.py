"""Departments: creating the tree and reading the parts of it a caller may see."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.departments.models import Department, Level
from cloudsvc.departments.schemas import DepartmentCreate
from cloudsvc.errors import Conflict, Forbidden, InvalidInput, NotFound
from cloudsvc.principals.authz import Caller, Permission
from cloudsvc.quotas import service as quotas


def by_code(session: Session, code: str) -> Department | None:
    return session.scalars(select(Department).where(Department.code == code)).one_or_none()


def visible(session: Session, caller: Caller, code: str, *, field: str | None = None) -> Department:
    """The department, if the caller may read it; NotFound otherwise (whether or not it exists)."""
    department = by_code(session, code)
    if department is None or not caller.may(Permission.department_read, department.path):
        raise NotFound("department", code, field=field)
    return department


def subtree_filter(paths: list[str] | None) -> ColumnElement[bool]:
    """SQL condition: the department lies under one of ``paths`` (None: anywhere, []: nowhere)."""
    if paths is None:
        return true()
    if not paths:
        return false()
    return or_(*(Department.path.startswith(path, autoescape=True) for path in paths))


def create(session: Session, caller: Caller, data: DepartmentCreate) -> Department:
    parent: Department | None = None
    if data.parent_code is None:
        if not caller.may_globally(Permission.department_create):
            raise Forbidden(
                "only a cloud-wide administrator may create a root department", field="parent_code"
            )
    else:
        parent = visible(session, caller, data.parent_code, field="parent_code")
        caller.require(
            Permission.department_create,
            parent.path,
            read=Permission.department_read,
            what="department",
            key=parent.code,
        )
        if data.level.rank <= Level(parent.level).rank:
            raise InvalidInput(
                f"a {data.level} cannot sit under a {parent.level}: a child ranks below its parent",
                field="level",
            )
    if by_code(session, data.code) is not None:
        raise Conflict(f"department code {data.code!r} is taken", field="code")

    department = Department(
        code=data.code, name=data.name, level=data.level, parent_id=parent.id if parent else None, path="/"
    )
    session.add(department)
    try:
        session.flush()  # assigns the id the path is made of
    except IntegrityError as exc:  # a concurrent create took the code between our check and insert
        raise Conflict(f"department code {data.code!r} is taken", field="code") from exc
    department.path = f"{parent.path if parent else '/'}{department.id}/"
    quotas.open_counters(session, department.id, data.level)
    audit.record(
        session,
        actor=caller.actor,
        action="department.create",
        target_type="department",
        target_id=department.code,
        detail={"level": data.level.value, "parent_code": data.parent_code},
    )
    return department


def parent_codes(session: Session, departments: Sequence[Department]) -> dict[int, str]:
    ids = {d.parent_id for d in departments if d.parent_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(Department.id, Department.code).where(Department.id.in_(ids)))
    return {row.id: row.code for row in rows}


def list_visible(
    session: Session, caller: Caller, *, parent_code: str | None, after_code: str | None, limit: int
) -> Sequence[Department]:
    query = select(Department).where(subtree_filter(caller.scopes(Permission.department_read)))
    if parent_code is not None:
        parent = visible(session, caller, parent_code, field="parent_code")
        query = query.where(Department.parent_id == parent.id)
    if after_code is not None:
        query = query.where(Department.code > after_code)
    return session.scalars(query.order_by(Department.code).limit(limit)).all()


def chain(session: Session, department: Department) -> list[Department]:
    """The department and its ancestors, root first."""
    ids = department.ancestor_ids()
    found = {d.id: d for d in session.scalars(select(Department).where(Department.id.in_(ids)))}
    return [found[i] for i in ids]
