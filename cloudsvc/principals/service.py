"""Principals: creation (with the rules on who may grant what), tokens and authentication."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.audit.service import SYSTEM, Actor
from cloudsvc.departments import service as departments
from cloudsvc.departments.models import Department
from cloudsvc.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from cloudsvc.principals.authz import DEPARTMENT_ROLES, Caller, Grant, Permission
from cloudsvc.principals.models import SEPARATED_ADMIN_ROLES, Principal, Role, RoleBinding
from cloudsvc.principals.schemas import PrincipalCreate, RoleBindingIn

TOKEN_PREFIX = "cs_"  # noqa: S105  (a prefix that makes leaked tokens greppable, not a secret)
BOOTSTRAP_NAME = "bootstrap-admin"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewPrincipal:
    principal: Principal
    token: str


def _check_separation(roles: list[RoleBindingIn]) -> None:
    admin_roles = {b.role for b in roles} & SEPARATED_ADMIN_ROLES
    if len(admin_roles) > 1:
        raise InvalidInput(
            "system_admin, security_admin and auditor are separated duties (等保 2.0 三员分立); "
            f"one principal may not hold {', '.join(sorted(admin_roles))}",
            field="roles",
        )


# Only these may hand out roles beyond DEPARTMENT_ROLES, and only over what their own binding covers.
_GRANTORS = frozenset({Role.system_admin, Role.security_admin})


def _check_may_grant(
    caller: Caller, binding: RoleBindingIn, department: Department | None, index: int
) -> None:
    field = f"roles[{index}]"
    if department is None:
        if not any(g.role in _GRANTORS and g.scope_path is None for g in caller.grants):
            raise Forbidden(f"{caller.name} may not grant cloud-wide roles", field=field)
        return
    if not caller.may(Permission.principal_manage, department.path):
        raise Forbidden(f"{caller.name} may not grant roles in {department.code}", field=field)
    if binding.role not in DEPARTMENT_ROLES and not caller.roles_over(department.path) & _GRANTORS:
        raise Forbidden(f"only a system or security administrator may grant {binding.role}", field=field)


def create(
    session: Session, caller: Caller | None, data: PrincipalCreate, *, token: str | None = None
) -> NewPrincipal:
    """Create a principal. ``caller`` None means the command line (an operator with shell access)."""
    _check_separation(data.roles)
    bound: list[tuple[RoleBindingIn, Department | None]] = []
    for index, binding in enumerate(data.roles):
        department = None
        if binding.department_code is not None:
            department = departments.by_code(session, binding.department_code)
            if department is None or (
                caller is not None and not caller.may(Permission.department_read, department.path)
            ):
                raise NotFound("department", binding.department_code, field=f"roles[{index}].department_code")
        if caller is not None:
            _check_may_grant(caller, binding, department, index)
        bound.append((binding, department))
    if session.scalars(select(Principal.id).where(Principal.name == data.name)).first() is not None:
        raise Conflict(f"principal name {data.name!r} is taken", field="name")

    token = token or new_token()
    principal = Principal(
        id=str(uuid.uuid4()),
        name=data.name,
        token_hash=hash_token(token),
        created_by=caller.principal_id if caller else None,
        bindings=[RoleBinding(role=b.role, department_id=d.id if d else None) for b, d in bound],
    )
    session.add(principal)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"principal name {data.name!r} is taken", field="name") from exc
    actor = caller.actor if caller else Actor(principal_id=None, name="cli")
    audit.record(
        session,
        actor=actor,
        action="principal.create",
        target_type="principal",
        target_id=principal.id,
        detail={"name": data.name, "roles": [b.model_dump(mode="json") for b in data.roles]},
    )
    return NewPrincipal(principal=principal, token=token)


def binding_codes(session: Session, principal: Principal) -> list[tuple[str, str | None]]:
    ids = {b.department_id for b in principal.bindings if b.department_id is not None}
    rows = session.execute(select(Department.id, Department.code).where(Department.id.in_(ids)))
    codes = {department_id: code for department_id, code in rows}
    return [(b.role, codes.get(b.department_id) if b.department_id else None) for b in principal.bindings]


def authenticate(session: Session, token: str, *, http_request_id: str | None = None) -> Caller:
    principal = session.scalars(
        select(Principal).where(Principal.token_hash == hash_token(token))
    ).one_or_none()
    if principal is None:
        raise NotAuthenticated("the bearer token is not valid")
    rows = session.execute(
        select(RoleBinding.role, Department.path)
        .outerjoin(Department, RoleBinding.department_id == Department.id)
        .where(RoleBinding.principal_id == principal.id)
    )
    return Caller(
        principal_id=principal.id,
        name=principal.name,
        grants=tuple(Grant(role=Role(role), scope_path=path) for role, path in rows),
        http_request_id=http_request_id,
    )


def bootstrap(session: Session, token: str) -> bool:
    """Create the first system_admin with ``token`` if no principal exists yet. True if it did."""
    if session.scalars(select(Principal.id).limit(1)).first() is not None:
        return False
    principal = Principal(
        id=str(uuid.uuid4()),
        name=BOOTSTRAP_NAME,
        token_hash=hash_token(token),
        bindings=[RoleBinding(role=Role.system_admin, department_id=None)],
    )
    try:
        with session.begin_nested():
            session.add(principal)
    except IntegrityError:  # another process bootstrapped at the same moment
        return False
    audit.record(
        session,
        actor=SYSTEM,
        action="principal.bootstrap",
        target_type="principal",
        target_id=principal.id,
        detail={"name": BOOTSTRAP_NAME},
    )
    return True
