from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from cloudsvc.resource_requests.lifecycle import Stage, Status
from cloudsvc.validation import Code, Lax, Name, StrictInput, Text
from quotas.demand import QuotaClass


class Classification(StrEnum):
    classified = "classified"  # 涉密
    unclassified = "unclassified"


class ServerSpec(StrictInput):
    vcpus: int = Field(ge=1, le=256)
    ram_mb: int = Field(ge=128, le=4 * 1024 * 1024)
    disk_gb: int = Field(ge=1, le=65_536)
    image: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,254}$")]
    count: int = Field(default=1, ge=1, le=100)


class VolumeSpec(StrictInput):
    size_gb: int = Field(ge=1, le=65_536)
    volume_type: Code = "standard"


class BandwidthDirection(StrEnum):
    ingress = "ingress"
    egress = "egress"
    both = "both"


class BandwidthSpec(StrictInput):
    mbps: int = Field(ge=1, le=100_000)
    direction: Lax[BandwidthDirection] = BandwidthDirection.both


class _Submission(StrictInput):
    department_code: Code
    zone: Code
    classification: Lax[Classification]
    mlps_level: int = Field(ge=1, le=4, description="等级保护 level of the system the resources serve")
    justification: Text = Field(min_length=1)
    lease_days: int = Field(default=365, ge=1, le=3650)


class ServerSubmission(_Submission):
    kind: Literal["server"]
    spec: ServerSpec


class VolumeSubmission(_Submission):
    kind: Literal["volume"]
    spec: VolumeSpec


class BandwidthSubmission(_Submission):
    kind: Literal["bandwidth"]
    spec: BandwidthSpec


LimitValue = Annotated[int, Field(ge=0, le=10**15)]


class QuotaChangeSpec(StrictInput):
    limits: dict[Lax[QuotaClass], LimitValue] = Field(min_length=1, description="The limits asked for")


class QuotaChangeSubmission(StrictInput):
    """A department asks for different limits of its own; applied when the last stage approves."""

    department_code: Code
    kind: Literal["quota"]
    spec: QuotaChangeSpec
    justification: Text = Field(min_length=1)


RequestSubmission = Annotated[
    ServerSubmission | VolumeSubmission | BandwidthSubmission | QuotaChangeSubmission,
    Field(discriminator="kind"),
]
ResourceSubmission = ServerSubmission | VolumeSubmission | BandwidthSubmission
# The discriminator's values show up in validation error locations; the problem renderer drops them.
SUBMISSION_KINDS = ("server", "volume", "bandwidth", "quota")


class ApproveBody(StrictInput):
    comment: Text | None = None


class RejectBody(StrictInput):
    reason: Text = Field(min_length=1)


class ReasonBody(StrictInput):
    reason: Text | None = None


class TransitionOut(BaseModel):
    from_status: Status | None
    to_status: Status
    stage: Stage | None
    actor_id: str | None
    actor_name: str
    policy_id: int | None
    reason: str | None
    at: datetime


class ResourceOut(BaseModel):
    index: int
    kind: str
    name: str = Field(description="The name the backend object carries (cs-<request id>-<index>)")
    backend_id: str | None
    state: str
    addresses: list[str]
    message: str | None


class StepOut(BaseModel):
    at: datetime
    step: str
    outcome: str
    message: str | None


class RequestOut(BaseModel):
    id: str
    department_code: str
    kind: str
    zone: str | None
    spec: dict[str, Any]
    demand: dict[str, int]
    classification: Classification | None
    mlps_level: int | None
    justification: str
    lease_days: int | None
    status: Status
    approval_stage: Stage | None
    waived_stages: list[Stage]
    status_reason: str | None
    requested_by: str
    created_at: datetime
    updated_at: datetime
    lease_expires_at: datetime | None
    history: list[TransitionOut]
    progress: str | None = Field(description="What the provisioning worker is doing or waiting for")
    drift: str | None = Field(description="Set when the backend lost something it had made")
    resources: list[ResourceOut] = Field(description="The backend objects, as the worker last saw them")
    steps: list[StepOut] | None = Field(
        default=None, description="The worker's recent steps, newest last (only on GET of one request)"
    )


class RequestPage(BaseModel):
    items: list[RequestOut]
    next_cursor: str | None


class ApprovalPolicyIn(StrictInput):
    name: Name
    max_demand: dict[Lax[QuotaClass], Annotated[int, Field(ge=0, le=10**12)]] = Field(
        description="Per-request ceilings by quota class; a class not listed is not limited by the policy",
        min_length=1,
    )
    skip_stages: list[Lax[Stage]] = Field(min_length=1, max_length=2)


class ApprovalPolicyOut(BaseModel):
    id: int
    department_code: str
    name: str
    max_demand: dict[str, int]
    skip_stages: list[Stage]
    set_by: str
    updated_at: datetime
