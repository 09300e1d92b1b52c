"""The way out of a cutover whose run died (its process killed, its machine lost): an operator takes it
over and either rolls it back or resumes it.

The system is then still ``cutting_over`` and its run silent. Once the silence has lasted
``cutover.STALE_AFTER`` (a run alive says so every ``cutover.HEARTBEAT``, even in the middle of a long
playbook), an operator may take the cutover over: a new run id becomes the owner, so the old run, if it was
only stalled, writes nothing more and has its playbook cancelled. Then, with the attempt's records:

- ``rollback``: the step that was running when the run died (the first without a successful record; it may
  have done part of its work) is undone, then the completed ones backwards; the system ends rolled_back.
- ``resume``: that step runs again from its start (step playbooks are idempotent), then the rest; a failure
  rolls back as in any cutover, and success ends migrated.

The takeover is audited with the operator's reason; the end is audited as for any cutover. The original
run's extra variables are not stored (they may hold anything), so the operator gives them again.

A move still ``provisioning`` (its resource requests refused, failed, or no longer wanted) is called off
with ``rollback`` too: its requests that wait are cancelled and those active decommissioned, so their
quota comes back, and the system ends rolled_back, ready to be assessed and planned again. A request in
the middle of being provisioned cannot be interrupted: the call is refused, changing nothing, until it is
active or failed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.db import Database, utcnow
from cloudsvc.errors import Conflict
from cloudsvc.migration import cutover, execution, lifecycle
from cloudsvc.migration import service as inventory
from cloudsvc.migration.cutover import STEPS, CutoverConfig, Fence, Run
from cloudsvc.migration.lifecycle import SystemStatus
from cloudsvc.migration.models import CutoverStep, LegacySystem
from cloudsvc.migration.schemas import RecoveryAction as Recovery
from cloudsvc.principals.authz import Caller
from cloudsvc.resource_requests import service as requests
from cloudsvc.resource_requests.lifecycle import Status as RequestStatus


def _done(session: Session, system_id: int, attempt: int) -> list[str]:
    """The steps of the attempt that completed, in order (they complete in STEPS order, without gaps)."""
    succeeded = set(
        session.scalars(
            select(CutoverStep.step).where(
                CutoverStep.system_id == system_id,
                CutoverStep.attempt == attempt,
                CutoverStep.rollback.is_(False),
                CutoverStep.outcome == "ok",
            )
        )
    )
    done: list[str] = []
    for step in STEPS:
        if step not in succeeded:
            break
        done.append(step)
    return done


def _call_off(session: Session, caller: Caller, system: LegacySystem, reason: str) -> None:
    """Roll back a move that has not reached its cutover: its requests end, the system is rolled_back."""
    found = execution.requests_of(session, system)
    busy = [f"{rid} ({status})" for rid, status in found if status == RequestStatus.provisioning]
    if busy:
        raise Conflict(
            f"the resources of {system.code} are being provisioned: {', '.join(busy)}; call the move off "
            "once they are active or failed",
            current_status=system.status,
        )
    on_behalf = execution.on_behalf_of(caller, system)
    ended: dict[str, list[str]] = {"cancelled": [], "decommissioned": []}
    why = f"migration of {system.code} called off: {reason}"
    for request_id, status in found:
        if status in (RequestStatus.pending_approval, RequestStatus.approved):
            requests.cancel(session, on_behalf, request_id, reason=why)
            ended["cancelled"].append(request_id)
        elif status == RequestStatus.active:
            requests.decommission(session, on_behalf, request_id, reason=why)
            ended["decommissioned"].append(request_id)
    lifecycle.move(
        system,
        SystemStatus.rolled_back,
        reason=f"move called off by {caller.name} while provisioning: {reason}",
    )
    cutover.settle_wave(session, system)
    audit.record(
        session,
        actor=caller.actor,
        action="migration.move.call_off",
        target_type="legacy_system",
        target_id=system.code,
        detail={"reason": reason, **ended, "requests": dict(found)},
    )


def _take_over(
    session: Session,
    caller: Caller,
    code: str,
    action: Recovery,
    reason: str,
    extravars: dict[str, Any],
    config: CutoverConfig,
) -> tuple[Run, list[str]] | None:
    """The cutover taken over: its new run and the attempt's completed steps; None for a move called off."""
    system = inventory.get_managed(session, caller, code)
    session.execute(select(LegacySystem.id).where(LegacySystem.id == system.id).with_for_update())
    session.refresh(system)
    if system.status == SystemStatus.provisioning and action == Recovery.rollback:
        _call_off(session, caller, system, reason)
        return None
    if system.status != SystemStatus.cutting_over:
        raise Conflict(
            f"system {code} is {system.status}; only a cutover under way can be recovered (or a move still "
            "provisioning rolled back)",
            current_status=system.status,
        )
    heard = system.cutover_heartbeat_at
    if heard is not None and utcnow() - heard < cutover.STALE_AFTER:
        raise Conflict(
            f"the cutover of {code} is alive: last heard of at {heard.isoformat()}; it may be recovered "
            f"after {cutover.STALE_AFTER.total_seconds():g} s of silence",
            last_heartbeat=heard.isoformat(),
        )
    attempt = system.cutover_attempts  # the one under way, even if it died before its first record
    done = _done(session, system.id, attempt)
    abandoned = system.cutover_run
    run = Run(system.id, code, attempt, cutover.own(system), cutover.variables_for(system, extravars, config))
    system.status_reason = f"cutover attempt {attempt} taken over by {caller.name} to {action}: {reason}"
    audit.record(
        session,
        actor=caller.actor,
        action="migration.cutover.recover",
        target_type="legacy_system",
        target_id=code,
        detail={
            "recovery": action.value,
            "reason": reason,
            "attempt": attempt,
            "abandoned_run": abandoned,
            "last_heartbeat": heard.isoformat() if heard else None,
            "completed_steps": done,
            "extravars": sorted(extravars),
        },
    )
    return run, done


def recover(
    database: Database,
    caller: Caller,
    code: str,
    action: Recovery,
    *,
    reason: str,
    extravars: dict[str, Any],
    config: CutoverConfig,
) -> None:
    with database.transaction() as session:
        taken = _take_over(session, caller, code, action, reason, extravars, config)
    if taken is None:
        return
    run, done = taken
    fence = Fence(database, run)
    left = list(STEPS[len(done) :])
    if action == Recovery.resume:
        cutover.carry_on(config, caller, fence, left, done)
        return
    undone = [*left[:1], *reversed(done)]  # the step that was running, if any, then the completed ones
    undo_failed = cutover.undo(config, fence, undone)
    cutover.finish(
        caller,
        fence,
        failure=f"cutover attempt {run.attempt} abandoned and rolled back by {caller.name}: {reason}",
        detail={"recovery": action.value, "rolled_back": undone},
        undo_failed=undo_failed,
    )
