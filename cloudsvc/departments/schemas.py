from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from cloudsvc.departments.models import Level
from cloudsvc.validation import Code, Lax, Name, StrictInput


class DepartmentCreate(StrictInput):
    code: Code
    name: Name
    level: Lax[Level]
    parent_code: Code | None = Field(default=None, description="Absent for a root (the province)")


class DepartmentOut(BaseModel):
    code: str
    name: str
    level: Level
    parent_code: str | None
    depth: int = Field(description="0 for a root")
    created_at: datetime


class DepartmentPage(BaseModel):
    items: list[DepartmentOut]
    next_cursor: str | None
