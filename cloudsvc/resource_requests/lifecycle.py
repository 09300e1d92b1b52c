"""The request state machine. Every move goes through ``move`` and leaves a RequestTransition behind.

    pending_approval ──► approved ──► provisioning ──► active ──► decommissioning ──► decommissioned
         │    │              │  │            │                          │
         │    └► cancelled ◄─┘  └► failed ◄──┴──────────────────────────┘
         └► rejected

While pending_approval a request passes the approval stages in order (department, then cloud); passing a
stage is recorded as a pending_approval → pending_approval transition naming the stage.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from cloudsvc.audit.service import Actor
from cloudsvc.db import utcnow
from cloudsvc.errors import IllegalTransition
from cloudsvc.resource_requests.models import RequestTransition, ResourceRequest


class Status(StrEnum):
    pending_approval = "pending_approval"
    approved = "approved"
    provisioning = "provisioning"
    active = "active"
    decommissioning = "decommissioning"
    decommissioned = "decommissioned"
    rejected = "rejected"
    cancelled = "cancelled"
    failed = "failed"


class Stage(StrEnum):
    department = "department"  # the request's department (or an ancestor) approves
    cloud = "cloud"  # the provincial IT authority (信息化主管部门) approves


STAGES: tuple[Stage, ...] = (Stage.department, Stage.cloud)

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.pending_approval: frozenset({Status.approved, Status.rejected, Status.cancelled}),
    Status.approved: frozenset({Status.provisioning, Status.cancelled, Status.failed}),
    Status.provisioning: frozenset({Status.active, Status.failed}),
    Status.active: frozenset({Status.decommissioning}),
    Status.decommissioning: frozenset({Status.decommissioned, Status.failed}),
    Status.decommissioned: frozenset(),
    Status.rejected: frozenset(),
    Status.cancelled: frozenset(),
    Status.failed: frozenset(),
}

TERMINAL = frozenset(status for status, successors in ALLOWED.items() if not successors)


def _record(
    request: ResourceRequest,
    to: Status,
    *,
    actor: Actor,
    reason: str | None,
    stage: Stage | None = None,
    policy_id: int | None = None,
    first: bool = False,
) -> None:
    now = utcnow()
    entered = None if first else _entered_current_status(request)
    request.transitions.append(
        RequestTransition(
            from_status=None if first else request.status,
            to_status=to,
            stage=stage,
            actor_id=actor.principal_id,
            actor_name=actor.name,
            policy_id=policy_id,
            reason=reason,
            at=now,
            seconds_in_status=None if entered is None else max((now - entered).total_seconds(), 0.0),
        )
    )


def _entered_current_status(request: ResourceRequest) -> datetime | None:
    """When the request entered the status it is in: its latest transition that changed the status
    (passing an approval stage keeps it pending_approval)."""
    for transition in reversed(request.transitions):
        if transition.from_status != transition.to_status:
            return transition.at
    return None


def start(request: ResourceRequest, *, actor: Actor, reason: str | None) -> None:
    """The first transition: into pending_approval at the first stage, then past any waived stages."""
    _record(request, Status.pending_approval, actor=actor, reason=reason, first=True)
    request.status = Status.pending_approval
    request.approval_stage = STAGES[0]
    _pass_waived_stages(request)


def move(
    request: ResourceRequest,
    to: Status,
    *,
    actor: Actor,
    reason: str | None = None,
    stage: Stage | None = None,
    policy_id: int | None = None,
) -> None:
    current = Status(request.status)
    if to not in ALLOWED[current]:
        raise IllegalTransition(
            current=current, wanted=to, message=f"request is {current}; it cannot become {to}"
        )
    _record(request, to, actor=actor, reason=reason, stage=stage, policy_id=policy_id)
    request.status = to
    request.status_reason = reason
    request.approval_stage = None
    request.next_attempt_at = None  # a new state is the worker's business at once, whatever it planned


def pass_stage(request: ResourceRequest, stage: Stage, *, actor: Actor, reason: str | None) -> None:
    """Record that ``stage`` approved; the request is approved once no stage is left."""
    if request.status != Status.pending_approval or request.approval_stage != stage:
        raise IllegalTransition(current=request.status, wanted=Status.approved)
    _advance(request, stage, actor=actor, reason=reason, policy_id=None)
    _pass_waived_stages(request)


def _advance(
    request: ResourceRequest, stage: Stage, *, actor: Actor, reason: str | None, policy_id: int | None
) -> None:
    position = STAGES.index(stage)
    if position + 1 < len(STAGES):
        _record(
            request, Status.pending_approval, actor=actor, reason=reason, stage=stage, policy_id=policy_id
        )
        request.approval_stage = STAGES[position + 1]
    else:
        move(request, Status.approved, actor=actor, reason=reason, stage=stage, policy_id=policy_id)


def _pass_waived_stages(request: ResourceRequest) -> None:
    policy_actor = Actor(principal_id=None, name=f"approval-policy:{request.approval_policy_id}")
    while request.status == Status.pending_approval and request.approval_stage in request.waived_stages:
        stage = Stage(request.approval_stage)
        _advance(
            request,
            stage,
            actor=policy_actor,
            reason=f"{stage} approval waived by auto-approval policy",
            policy_id=request.approval_policy_id,
        )
