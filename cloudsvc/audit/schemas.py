from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor_id: str | None
    actor_name: str
    action: str
    target_type: str
    target_id: str | None
    outcome: str
    http_request_id: str | None
    detail: dict[str, Any]
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


class VerificationOut(BaseModel):
    ok: bool
    events: int
    first_bad_event: int | None
    problem: str | None
