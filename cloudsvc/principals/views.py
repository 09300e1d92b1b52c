from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from cloudsvc.api.deps import CallerDep, SessionDep
from cloudsvc.principals import service
from cloudsvc.principals.models import Principal
from cloudsvc.principals.schemas import PrincipalCreate, PrincipalCreated, PrincipalOut, RoleBindingOut

router = APIRouter(prefix="/v1/principals", tags=["principals"])


def principal_out(session: Session, principal: Principal) -> PrincipalOut:
    roles = [
        RoleBindingOut(role=role, department_code=code)
        for role, code in service.binding_codes(session, principal)
    ]
    return PrincipalOut(id=principal.id, name=principal.name, roles=roles, created_at=principal.created_at)


@router.post("", status_code=status.HTTP_201_CREATED, name="principals.create")
def create_principal(body: PrincipalCreate, session: SessionDep, caller: CallerDep) -> PrincipalCreated:
    created = service.create(session, caller, body)
    session.commit()
    out = principal_out(session, created.principal)
    return PrincipalCreated(**out.model_dump(), token=created.token)


@router.get("/me", name="principals.me")
def whoami(session: SessionDep, caller: CallerDep) -> PrincipalOut:
    return principal_out(session, session.get_one(Principal, caller.principal_id))
