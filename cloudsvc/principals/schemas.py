from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from cloudsvc.principals.models import Role
from cloudsvc.validation import Code, Lax, Name, StrictInput


class RoleBindingIn(StrictInput):
    role: Lax[Role]
    department_code: Code | None = Field(
        default=None, description="Absent: the role holds over the whole cloud"
    )


class PrincipalCreate(StrictInput):
    name: Name
    roles: list[RoleBindingIn] = Field(min_length=1, max_length=50)


class RoleBindingOut(BaseModel):
    role: Role
    department_code: str | None


class PrincipalOut(BaseModel):
    id: str
    name: str
    roles: list[RoleBindingOut]
    created_at: datetime


class PrincipalCreated(PrincipalOut):
    token: str = Field(description="Shown once; only its hash is stored")
