from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from cloudsvc.resource_requests.schemas import BandwidthSpec, LimitValue, ServerSpec, VolumeSpec
from cloudsvc.validation import Code, Lax, StrictInput
from quotas.demand import QuotaClass


class QuotaLimitsIn(StrictInput):
    limits: dict[Lax[QuotaClass], LimitValue | None] = Field(
        min_length=1, description="Classes to change; null removes the department's own limit"
    )


class QuotaClassOut(BaseModel):
    limit: int | None = Field(description="The department's own limit; null: none of its own")
    in_use: int = Field(description="Active resources in the department's whole subtree")
    reserved: int = Field(description="Submitted, not yet active or ended, in the whole subtree")
    available: int | None = Field(description="limit - in_use - reserved; null without a limit")
    headroom: int | None = Field(description="The least room on the way to the root; null: unlimited")
    headroom_department: str | None = Field(description="Where that least room is")


class QuotaOut(BaseModel):
    department_code: str
    classes: dict[QuotaClass, QuotaClassOut]


class _CheckBase(StrictInput):
    department_code: Code


class ServerCheck(_CheckBase):
    kind: Literal["server"]
    spec: ServerSpec


class VolumeCheck(_CheckBase):
    kind: Literal["volume"]
    spec: VolumeSpec


class BandwidthCheck(_CheckBase):
    kind: Literal["bandwidth"]
    spec: BandwidthSpec


QuotaCheckIn = Annotated[ServerCheck | VolumeCheck | BandwidthCheck, Field(discriminator="kind")]


class ShortfallOut(BaseModel):
    department_code: str
    quota_class: QuotaClass
    requested: int
    limit: int
    in_use: int
    reserved: int
    available: int
    short_by: int


class QuotaCheckOut(BaseModel):
    fits: bool
    demand: dict[QuotaClass, int]
    shortfalls: list[ShortfallOut]
