"""Input and output bodies of the migration API."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from cloudsvc.migration.lifecycle import SystemStatus
from cloudsvc.migration.vocabulary import Coupling, Strategy
from cloudsvc.resource_requests.schemas import Classification
from cloudsvc.validation import Code, JsonObject, Lax, Name, StrictInput, Text

HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
# A discovery label ("end-of-life", "vmware", "finance"), kept in lower case so that rules match it once.
Tag = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"), AfterValidator(str.lower)
]


class Criticality(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class Weekday(StrEnum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


class MaintenanceWindow(StrictInput):
    """A weekly window in which the system may be taken down; ``end`` before ``start`` runs past midnight."""

    weekday: Lax[Weekday]
    start: HHMM
    end: HHMM


class Period(StrictInput):
    """Days (both ends included) in which the system must not move, e.g. tax season for finance systems."""

    start: Lax[date]
    end: Lax[date]
    reason: Text | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class PlanBlackout(Period):
    """Days in which systems must not move: every system's, or only those of the departments given (each
    with its subtree) or carrying one of the tags."""

    departments: list[Code] = Field(default_factory=list, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=100)


class DependencyIn(StrictInput):
    code: Code = Field(description="The system this one depends on")
    coupling: Lax[Coupling] = Field(
        default=Coupling.not_after,
        description="same_wave: move together; before: the dependency strictly earlier; not_after: no later",
    )


class SystemIn(StrictInput):
    """A legacy system as operators describe it (POST, PUT, and each row of an import)."""

    code: Code
    name: Name
    department_code: Code
    classification: Lax[Classification]
    mlps_level: int = Field(ge=1, le=4, description="等级保护 level")
    current_location: Name = Field(description="Where it runs now, e.g. a machine room")
    vcpus: int = Field(ge=1, le=4096)
    ram_mb: int = Field(ge=128, le=64 * 1024 * 1024)
    storage_gb: int = Field(ge=0, le=10_000_000)
    bandwidth_mbps: int = Field(ge=0, le=100_000)
    criticality: Lax[Criticality]
    cutover_hours: float = Field(gt=0, le=720, description="How long its cutover takes the system down")
    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list, max_length=50)
    blackout_periods: list[Period] = Field(default_factory=list, max_length=50)
    strategy: Lax[Strategy] | None = Field(default=None, description="The operator's 7R decision")
    dependencies: list[DependencyIn] = Field(default_factory=list, max_length=500)
    tags: list[Tag] = Field(
        default_factory=list,
        max_length=50,
        description="Discovery labels the assessment rules read (end-of-life, vmware…) and blackouts select",
    )

    @model_validator(mode="after")
    def _distinct_dependencies(self) -> SystemIn:
        codes = [d.code for d in self.dependencies]
        if self.code in codes:
            raise ValueError("a system cannot depend on itself")
        if len(set(codes)) != len(codes):
            raise ValueError("each dependency may be listed once")
        return self


class StatusDecision(StrEnum):
    """The statuses an operator sets by hand; the others follow from assessment, planning and cutover."""

    assessed = "assessed"
    retained = "retained"
    retired = "retired"


class SystemPatch(StrictInput):
    """Operator decisions that change after import."""

    strategy: Lax[Strategy] | None = None
    target_zone: Code | None = None
    status: Lax[StatusDecision] | None = Field(
        default=None, description="retained/retired: the operator's decision; assessed: re-open the system"
    )
    reason: Text | None = None


class ReadinessCheck(BaseModel):
    check: str
    ok: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: list[ReadinessCheck]


class SystemOut(BaseModel):
    code: str
    name: str
    department_code: str
    classification: Classification
    mlps_level: int
    current_location: str
    vcpus: int
    ram_mb: int
    storage_gb: int
    bandwidth_mbps: int
    criticality: Criticality
    cutover_hours: float
    maintenance_windows: list[dict[str, Any]]
    blackout_periods: list[dict[str, Any]]
    strategy: Strategy | None
    suggested_strategy: Strategy | None
    target_zone: str | None
    status: SystemStatus
    status_reason: str | None
    readiness: Readiness | None
    dependencies: list[dict[str, str]]
    tags: list[str]
    request_ids: list[str] = Field(default_factory=list, description="Resource requests its move submitted")
    created_at: datetime
    updated_at: datetime


class SystemPage(BaseModel):
    items: list[SystemOut]
    next_cursor: str | None


class RowProblem(BaseModel):
    row: int = Field(description="Spreadsheet row number (the header is row 1)")
    column: str
    problem: str


class ImportResult(BaseModel):
    created: int
    updated: int
    codes: list[str]


class AssessIn(StrictInput):
    note: Text | None = Field(default=None, description="Why, for the audit trail")


class ExecuteIn(StrictInput):
    image: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,254}$")] | None = (
        Field(default=None, description="Image of the servers requested; the configured default if not given")
    )


class AssessBulk(StrictInput):
    codes: list[Code] = Field(min_length=1, max_length=10_000)
    note: Text | None = Field(default=None, description="Why, for the audit trail")


class Capacity(StrictInput):
    systems: int = Field(ge=1, le=100_000, description="Systems per wave")
    vcpus: int = Field(ge=1, le=10**9, description="vCPUs moved per wave")
    storage_gb: int = Field(ge=1, le=10**12, description="Storage moved per wave")
    cutover_hours: float = Field(gt=0, le=10**6, description="Cutover hours per wave, summed over systems")


class PlanMethod(StrEnum):
    auto = "auto"
    cpsat = "cpsat"
    heuristic = "heuristic"


class SystemFilter(StrictInput):
    department_code: Code | None = None
    status: list[Lax[SystemStatus]] | None = None
    strategy: list[Lax[Strategy]] | None = None
    classification: Lax[Classification] | None = None


class PlanIn(StrictInput):
    systems: list[Code] | None = Field(default=None, max_length=100_000, description="Codes to plan")
    filter: SystemFilter | None = Field(default=None, description="Or: the systems matching this")
    capacity: Capacity
    first_wave_starts: Lax[date]
    wave_days: int = Field(ge=1, le=366)
    blackouts: list[PlanBlackout] = Field(
        default_factory=list,
        max_length=500,
        description="For every system, or for the departments' (subtrees) and tags' systems",
    )
    method: Lax[PlanMethod] = PlanMethod.auto
    time_limit_seconds: float = Field(default=10, gt=0, le=120, description="CP-SAT's budget")

    @model_validator(mode="after")
    def _one_selection(self) -> PlanIn:
        if (self.systems is None) == (self.filter is None):
            raise ValueError("give either systems (a list of codes) or filter")
        return self


class WaveSystemOut(BaseModel):
    code: str
    reason: str
    cutover_starts: datetime | None = Field(
        description="When its cutover starts: an opening of one of its maintenance windows in the wave, in "
        "local time; null for a system without windows (any time in the wave)"
    )


class WaveOut(BaseModel):
    id: int
    number: int
    starts_on: date
    ends_on: date
    status: str
    systems: list[WaveSystemOut]


class PlanOut(BaseModel):
    id: int
    method: str
    optimal: bool
    lower_bound: int
    parameters: dict[str, Any]
    created_by: str
    created_at: datetime
    waves: list[WaveOut]


class CutoverIn(StrictInput):
    extravars: JsonObject = Field(
        default_factory=dict, description="Extra variables for every step's playbook (e.g. source_dir)"
    )


class RecoveryAction(StrEnum):
    rollback = "rollback"  # undo the step that was running and the completed ones; end rolled_back
    resume = "resume"  # run the step that was running again, then the rest


class RecoverIn(StrictInput):
    action: Lax[RecoveryAction]
    reason: Text = Field(min_length=1, description="Why, for the audit trail and the system's reason")
    extravars: JsonObject = Field(
        default_factory=dict, description="The extra variables the cutover was started with (not stored)"
    )


class CutoverStepOut(BaseModel):
    attempt: int
    step: str
    rollback: bool
    playbook: str
    outcome: str
    failed_task: str | None
    message: str | None
    stdout: str
    events: list[dict[str, Any]]
    started_at: datetime
    finished_at: datetime


class CutoverOut(BaseModel):
    code: str
    status: SystemStatus
    status_reason: str | None
    steps: list[CutoverStepOut]


class ExecuteOut(BaseModel):
    wave_id: int
    status: str
    systems: list[SystemOut]


class TargetIn(StrictInput):
    share: float = Field(ge=0, le=1)
    due_on: Lax[date] | None = None


class KpiOut(BaseModel):
    kpi: str
    numerator: int
    denominator: int
    share: float | None = Field(description="numerator / denominator; null when there is nothing to count")
    target: float
    due_on: date | None
    met: bool | None


class DepartmentProgress(BaseModel):
    department_code: str
    level: str
    systems: int
    kpis: list[KpiOut]
    by_strategy: dict[str, int]
    by_status: dict[str, int]


class ProgressOut(BaseModel):
    departments: list[DepartmentProgress]
