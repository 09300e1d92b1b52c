from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from cloudsvc.validation import Code, JsonObject, Lax, StrictInput
from cloudsvc.zones.models import Backend, Network


class ZoneCreate(StrictInput):
    name: Code
    backend: Lax[Backend]
    network: Lax[Network]
    mlps_level: int = Field(ge=1, le=4, description="The 等级保护 level the zone is certified for")
    xinchuang: bool = False
    settings: JsonObject = Field(default_factory=dict, description="Backend-specific connection settings")


class ZoneHealthOut(BaseModel):
    ok: bool
    message: str | None
    checked_at: datetime


class ZoneOut(BaseModel):
    name: str
    backend: Backend
    network: Network
    mlps_level: int
    xinchuang: bool
    settings: dict[str, Any]
    created_at: datetime
    health: ZoneHealthOut | None = Field(default=None, description="The last answer of the zone's driver")
