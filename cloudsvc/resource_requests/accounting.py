"""Status changes with their quota consequences: the one way a request's status moves after submission.

What a request holds follows from its status alone: reserved quota while it waits or is being built,
in-use quota while its resources exist, nothing once it has ended.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloudsvc.audit.service import Actor
from cloudsvc.quotas import service as quotas
from cloudsvc.resource_requests import lifecycle
from cloudsvc.resource_requests.lifecycle import Stage, Status
from cloudsvc.resource_requests.models import ResourceRequest
from quotas.arithmetic import Movement
from quotas.demand import demand_of

RESERVED, IN_USE = "reserved", "in_use"
HOLDS: dict[Status, str] = {
    Status.pending_approval: RESERVED,
    Status.approved: RESERVED,
    Status.provisioning: RESERVED,
    Status.active: IN_USE,
    Status.decommissioning: IN_USE,
}
_MOVEMENTS: dict[tuple[str | None, str | None], Movement] = {
    (RESERVED, IN_USE): Movement.activate,
    (RESERVED, None): Movement.release,
    (IN_USE, None): Movement.free,
}


def move(
    session: Session,
    request: ResourceRequest,
    to: Status,
    *,
    actor: Actor,
    reason: str | None = None,
    stage: Stage | None = None,
) -> None:
    held_before = HOLDS.get(Status(request.status))
    lifecycle.move(request, to, actor=actor, reason=reason, stage=stage)
    movement = _MOVEMENTS.get((held_before, HOLDS.get(to)))
    if movement is not None:
        quotas.settle(
            session,
            request_id=request.id,
            chain_ids=request.department.ancestor_ids(),
            demand=demand_of(request.kind, request.spec),
            movement=movement,
        )
