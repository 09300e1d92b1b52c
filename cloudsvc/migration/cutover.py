"""A system's cutover: the steps run as Ansible playbooks, each recorded; a failure rolls back.

    prepare → replicate → test → cutover → validate → decommission_source

Each step is a small task with an execute playbook (``<step>.yml``) and a rollback playbook
(``rollback_<step>.yml``), as nova's conductor tasks are. When a step fails, its own rollback runs first
(it may have done part of its work before the task that failed), then those of the steps that completed,
in reverse order; the system ends ``rolled_back``, its reason naming the step and the task that failed.
Rollback playbooks must therefore be idempotent: undoing what was never done is a no-op. No transaction
is held while a playbook runs: the system moves to ``cutting_over`` in one transaction, each step's record
is written in its own, and the outcome in a last one.

A run owns the system through its run id (``cutover_run``) and says it is alive (``cutover_heartbeat_at``)
at each record and every ``HEARTBEAT`` while a playbook runs. If its process dies the system stays
``cutting_over`` and falls silent; after ``STALE_AFTER`` an operator may take it over (``recovery``). Every
write of a run is fenced by its run id, so a run that was only slow, not dead, notices the takeover, has
ansible-runner cancel its playbook, and writes nothing more.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.config import Settings
from cloudsvc.db import Database, utcnow
from cloudsvc.errors import Conflict
from cloudsvc.migration import execution, lifecycle, playbooks
from cloudsvc.migration import service as inventory
from cloudsvc.migration.lifecycle import SystemStatus
from cloudsvc.migration.models import CutoverStep, LegacySystem, MigrationWave, WaveSystem
from cloudsvc.principals.authz import Caller
from cloudsvc.resource_requests.lifecycle import Status as RequestStatus

log = logging.getLogger(__name__)

STEPS: tuple[str, ...] = ("prepare", "replicate", "test", "cutover", "validate", "decommission_source")
HEARTBEAT = timedelta(seconds=30)
STALE_AFTER = 10 * HEARTBEAT  # silence after which a cutover counts as dead and may be taken over
_FINAL = frozenset(
    {SystemStatus.migrated, SystemStatus.rolled_back, SystemStatus.retained, SystemStatus.retired}
)


@dataclass(frozen=True)
class CutoverConfig:
    playbook_dir: Path
    work_dir: Path  # each system's markers go under work_dir/<code>
    inventory: str  # an Ansible inventory (INI text), localhost by default

    @classmethod
    def of(cls, settings: Settings) -> CutoverConfig:
        return cls(
            playbook_dir=settings.migration_playbook_dir,
            work_dir=settings.migration_work_dir,
            inventory=settings.migration_inventory,
        )


class TakenOver(Conflict):
    """The run no longer owns the system: an operator took the cutover over (``recovery``)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"the cutover of {code} was taken over by an operator's recovery; this run stopped")


@dataclass(frozen=True)
class Run:
    """One cutover run: which system, which attempt, its run id, and the playbooks' variables."""

    system_id: int
    code: str
    attempt: int
    run_id: str
    variables: dict[str, Any]


def variables_for(system: LegacySystem, extravars: dict[str, Any], config: CutoverConfig) -> dict[str, Any]:
    assert system.target_zone is not None
    return {
        **extravars,
        "system_code": system.code,
        "target_zone": system.target_zone.name,
        "work_dir": str(config.work_dir / system.code),
    }


def own(system: LegacySystem) -> str:
    """Make a new run the system's owner; its id."""
    run_id = str(uuid.uuid4())
    system.cutover_run = run_id
    system.cutover_heartbeat_at = utcnow()
    return run_id


def _begin(
    session: Session, caller: Caller, code: str, extravars: dict[str, Any], config: CutoverConfig
) -> Run:
    system = inventory.get_managed(session, caller, code)
    # Locked and read again: of two concurrent cutovers of one system, the second sees cutting_over.
    session.execute(select(LegacySystem.id).where(LegacySystem.id == system.id).with_for_update())
    session.refresh(system)
    if system.status == SystemStatus.cutting_over:
        raise Conflict(
            f"a cutover of {code} is under way (last heard of at {system.cutover_heartbeat_at}); if its "
            f"process died, recover it once it has been silent for {STALE_AFTER.total_seconds():g} s",
            current_status=system.status,
        )
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
    lifecycle.move(system, SystemStatus.cutting_over, reason="cutover started")
    system.cutover_attempts += 1
    attempt = system.cutover_attempts
    run = Run(system.id, code, attempt, own(system), variables_for(system, extravars, config))
    audit.record(
        session,
        actor=caller.actor,
        action="migration.cutover.start",
        target_type="legacy_system",
        target_id=code,
        detail={"attempt": attempt, "extravars": sorted(extravars)},
    )
    return run


@dataclass
class Fence:
    """Keeps a run's ownership alive and tells when it is lost; ansible-runner asks ``cancel`` often."""

    database: Database
    run: Run
    lost: bool = False
    _last: float = field(default_factory=time.monotonic)

    def owned(self, session: Session) -> bool:
        """In ``session``: lock the system and say whether the run still owns it (and bump its heartbeat)."""
        mine = LegacySystem.id == self.run.system_id
        current = session.scalar(select(LegacySystem.cutover_run).where(mine).with_for_update())
        if current != self.run.run_id:
            self.lost = True
            return False
        session.execute(update(LegacySystem).where(mine).values(cutover_heartbeat_at=utcnow()))
        self._last = time.monotonic()
        return True

    def beat(self) -> None:
        with self.database.transaction() as session:
            bumped = session.execute(
                update(LegacySystem)
                .where(LegacySystem.id == self.run.system_id, LegacySystem.cutover_run == self.run.run_id)
                .values(cutover_heartbeat_at=utcnow())
            )
            self.lost = bumped.rowcount == 0  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
        self._last = time.monotonic()

    def cancel(self) -> bool:
        if time.monotonic() - self._last >= HEARTBEAT.total_seconds():
            self.beat()
        return self.lost


def _record(
    fence: Fence,
    step: str,
    outcome: playbooks.PlaybookRun,
    *,
    rollback: bool,
    playbook: str,
    started: datetime,
) -> None:
    run = fence.run
    with fence.database.transaction() as session:
        if not fence.owned(session):
            log.warning(
                "cutover run %s of %s was taken over; %s not recorded", run.run_id, run.code, playbook
            )
            return
        session.add(
            CutoverStep(
                system_id=run.system_id,
                attempt=run.attempt,
                step=step,
                rollback=rollback,
                playbook=playbook,
                outcome="ok" if outcome.ok else "failed",
                failed_task=outcome.failed_task,
                message=outcome.message,
                stdout=outcome.stdout,
                events=outcome.events,
                started_at=started,
                finished_at=utcnow(),
            )
        )


def _run_step(config: CutoverConfig, fence: Fence, step: str, *, rollback: bool) -> playbooks.PlaybookRun:
    fence.beat()  # a run taken over starts nothing more
    if fence.lost:
        raise TakenOver(fence.run.code)
    playbook = f"rollback_{step}.yml" if rollback else f"{step}.yml"
    started = utcnow()
    outcome = playbooks.run(
        config.playbook_dir, playbook, fence.run.variables, inventory=config.inventory, cancel=fence.cancel
    )
    _record(fence, step, outcome, rollback=rollback, playbook=playbook, started=started)
    if fence.lost:
        raise TakenOver(fence.run.code)
    return outcome


def forward(
    config: CutoverConfig, fence: Fence, steps: Sequence[str], done: list[str]
) -> tuple[str, playbooks.PlaybookRun] | None:
    """Run ``steps`` in order, appending each that succeeds to ``done``; the first failure, if any."""
    for step in steps:
        outcome = _run_step(config, fence, step, rollback=False)
        if not outcome.ok:
            return step, outcome
        done.append(step)
    return None


def undo(config: CutoverConfig, fence: Fence, steps: Sequence[str]) -> list[str]:
    """Run the rollbacks of ``steps`` in the order given; the steps whose rollback failed."""
    return [step for step in steps if not _run_step(config, fence, step, rollback=True).ok]


def settle_wave(session: Session, system: LegacySystem) -> None:
    """A wave whose systems all reached a final status is done."""
    waves = session.scalars(
        select(MigrationWave)
        .join(WaveSystem, WaveSystem.wave_id == MigrationWave.id)
        .where(WaveSystem.system_id == system.id, MigrationWave.status == "executing")
    ).all()
    for wave in waves:
        if all(ws.system.status in _FINAL for ws in wave.systems):
            wave.status = "done"


def finish(
    caller: Caller,
    fence: Fence,
    *,
    failure: str | None,
    detail: dict[str, Any],
    undo_failed: Sequence[str] = (),
) -> None:
    """The outcome: migrated, or (``failure`` says why) rolled_back; the run gives the system up."""
    run = fence.run
    with fence.database.transaction() as session:
        if not fence.owned(session):
            raise TakenOver(run.code)
        system = session.get_one(LegacySystem, run.system_id)
        if failure is None:
            lifecycle.move(system, SystemStatus.migrated, reason=f"cutover attempt {run.attempt} completed")
            action = "migration.cutover.complete"
        else:
            reason = failure
            if undo_failed:
                reason += f"; rollback of {', '.join(undo_failed)} failed too, check by hand"
            lifecycle.move(system, SystemStatus.rolled_back, reason=reason)
            action = "migration.cutover.rollback"
        system.cutover_run = None
        system.cutover_heartbeat_at = None
        settle_wave(session, system)
        audit.record(
            session,
            actor=caller.actor,
            action=action,
            target_type="legacy_system",
            target_id=run.code,
            detail={"attempt": run.attempt, **detail, "rollback_failed": list(undo_failed)},
        )


def carry_on(
    config: CutoverConfig, caller: Caller, fence: Fence, steps: Sequence[str], done: list[str]
) -> None:
    """Run ``steps`` after the ``done`` ones; on a failure undo it and ``done`` backwards; record the end."""
    failure = forward(config, fence, steps, done)
    if failure is None:
        finish(caller, fence, failure=None, detail={})
        return
    step, outcome = failure
    undone = [step, *reversed(done)]
    undo_failed = undo(config, fence, undone)
    finish(
        caller,
        fence,
        failure=f"step {step} failed at task {outcome.failed_task!r}: {outcome.message}",
        detail={"failed_step": step, "failed_task": outcome.failed_task, "rolled_back": undone},
        undo_failed=undo_failed,
    )


def run(
    database: Database, caller: Caller, code: str, extravars: dict[str, Any], config: CutoverConfig
) -> None:
    with database.transaction() as session:
        started = _begin(session, caller, code, extravars, config)
    carry_on(config, caller, Fence(database, started), STEPS, [])


def steps_of(session: Session, system: LegacySystem) -> list[CutoverStep]:
    return list(
        session.scalars(
            select(CutoverStep).where(CutoverStep.system_id == system.id).order_by(CutoverStep.id)
        )
    )
