"""A system's cutover: the steps run as Ansible playbooks, each recorded; a failure rolls back.

    prepare → replicate → test → cutover → validate → decommission_source

Each step is a small task with an execute playbook (``<step>.yml``) and a rollback playbook
(``rollback_<step>.yml``), as nova's conductor tasks are. When a step fails, its own rollback runs first
(it may have done part of its work before the task that failed), then those of the steps that completed,
in reverse order; the system ends ``rolled_back``, its reason naming the step and the task that failed.
Rollback playbooks must therefore be idempotent: undoing what was never done is a no-op. No transaction
is held while a playbook runs: the system moves to ``cutting_over`` in one transaction, each step's record
is written in its own, and the outcome in a last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.db import Database, utcnow
from cloudsvc.errors import Conflict
from cloudsvc.migration import execution, lifecycle, playbooks
from cloudsvc.migration import service as inventory
from cloudsvc.migration.lifecycle import SystemStatus
from cloudsvc.migration.models import CutoverStep, LegacySystem, MigrationWave, WaveSystem
from cloudsvc.principals.authz import Caller
from cloudsvc.resource_requests.lifecycle import Status as RequestStatus

STEPS: tuple[str, ...] = ("prepare", "replicate", "test", "cutover", "validate", "decommission_source")
_FINAL = frozenset(
    {SystemStatus.migrated, SystemStatus.rolled_back, SystemStatus.retained, SystemStatus.retired}
)


@dataclass(frozen=True)
class CutoverConfig:
    playbook_dir: Path
    work_dir: Path  # each system's markers go under work_dir/<code>
    inventory: str  # an Ansible inventory (INI text), localhost by default


def _begin(
    session: Session, caller: Caller, code: str, extravars: dict[str, Any], config: CutoverConfig
) -> tuple[int, int, dict[str, Any]]:
    system = inventory.get_managed(session, caller, code)
    # Locked and read again: of two concurrent cutovers of one system, the second sees cutting_over.
    session.execute(select(LegacySystem.id).where(LegacySystem.id == system.id).with_for_update())
    session.refresh(system)
    if system.status not in (SystemStatus.provisioning, SystemStatus.rolled_back):
        raise Conflict(
            f"system {code} is {system.status}; a cutover starts once its resources are provisioned",
            current_status=system.status,
        )
    found = execution.requests_of(session, system)
    if not found:
        raise Conflict(f"system {code} has no resource requests; execute its wave first")
    waiting = [f"{rid} ({status})" for rid, status in found if status != RequestStatus.active]
    if waiting:
        raise Conflict(
            f"system {code} waits for its resource requests to become active: {', '.join(waiting)}"
        )
    assert system.target_zone is not None
    lifecycle.move(system, SystemStatus.cutting_over, reason="cutover started")
    attempt = 1 + (
        session.scalar(select(func.max(CutoverStep.attempt)).where(CutoverStep.system_id == system.id)) or 0
    )
    variables = {
        **extravars,
        "system_code": system.code,
        "target_zone": system.target_zone.name,
        "work_dir": str(config.work_dir / system.code),
    }
    audit.record(
        session,
        actor=caller.actor,
        action="migration.cutover.start",
        target_type="legacy_system",
        target_id=code,
        detail={"attempt": attempt, "extravars": sorted(extravars)},
    )
    return system.id, attempt, variables


def _record(
    database: Database,
    system_id: int,
    attempt: int,
    step: str,
    run: playbooks.PlaybookRun,
    *,
    rollback: bool,
    playbook: str,
    started: datetime,
) -> None:
    with database.transaction() as session:
        session.add(
            CutoverStep(
                system_id=system_id,
                attempt=attempt,
                step=step,
                rollback=rollback,
                playbook=playbook,
                outcome="ok" if run.ok else "failed",
                failed_task=run.failed_task,
                message=run.message,
                stdout=run.stdout,
                events=run.events,
                started_at=started,
                finished_at=utcnow(),
            )
        )


def _run_step(
    database: Database,
    config: CutoverConfig,
    system_id: int,
    attempt: int,
    step: str,
    variables: dict[str, Any],
    *,
    rollback: bool,
) -> playbooks.PlaybookRun:
    playbook = f"rollback_{step}.yml" if rollback else f"{step}.yml"
    started = utcnow()
    run = playbooks.run(config.playbook_dir, playbook, variables, inventory=config.inventory)
    _record(database, system_id, attempt, step, run, rollback=rollback, playbook=playbook, started=started)
    return run


def _settle_wave(session: Session, system: LegacySystem) -> None:
    """A wave whose systems all reached a final status is done."""
    waves = session.scalars(
        select(MigrationWave)
        .join(WaveSystem, WaveSystem.wave_id == MigrationWave.id)
        .where(WaveSystem.system_id == system.id, MigrationWave.status == "executing")
    ).all()
    for wave in waves:
        if all(ws.system.status in _FINAL for ws in wave.systems):
            wave.status = "done"


def run(
    database: Database, caller: Caller, code: str, extravars: dict[str, Any], config: CutoverConfig
) -> None:
    with database.transaction() as session:
        system_id, attempt, variables = _begin(session, caller, code, extravars, config)
    done: list[str] = []
    failure: tuple[str, playbooks.PlaybookRun] | None = None
    for step in STEPS:
        outcome = _run_step(database, config, system_id, attempt, step, variables, rollback=False)
        if not outcome.ok:
            failure = (step, outcome)
            break
        done.append(step)
    undo_failed: list[str] = []
    undone: list[str] = []
    if failure is not None:
        undone = [failure[0], *reversed(done)]
        for step in undone:
            if not _run_step(database, config, system_id, attempt, step, variables, rollback=True).ok:
                undo_failed.append(step)
    detail: dict[str, Any]
    with database.transaction() as session:
        system = session.get_one(LegacySystem, system_id)
        if failure is None:
            lifecycle.move(system, SystemStatus.migrated, reason=f"cutover attempt {attempt} completed")
            action, detail = "migration.cutover.complete", {"attempt": attempt}
        else:
            step, outcome = failure
            reason = f"step {step} failed at task {outcome.failed_task!r}: {outcome.message}"
            if undo_failed:
                reason += f"; rollback of {', '.join(undo_failed)} failed too, check by hand"
            lifecycle.move(system, SystemStatus.rolled_back, reason=reason)
            action = "migration.cutover.rollback"
            detail = {
                "attempt": attempt,
                "failed_step": step,
                "failed_task": outcome.failed_task,
                "rolled_back": undone,
                "rollback_failed": undo_failed,
            }
        _settle_wave(session, system)
        audit.record(
            session,
            actor=caller.actor,
            action=action,
            target_type="legacy_system",
            target_id=code,
            detail=detail,
        )


def steps_of(session: Session, system: LegacySystem) -> list[CutoverStep]:
    return list(
        session.scalars(
            select(CutoverStep).where(CutoverStep.system_id == system.id).order_by(CutoverStep.id)
        )
    )
