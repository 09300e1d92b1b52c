"""Wave plans: choose the systems, hand them to the planner (``migrations_plan``), store what it says.

A system that is planned again leaves the not-yet-executed waves of earlier plans: it belongs to one
pending wave at a time. Dependencies on systems outside the selection must already be settled (migrated,
retained or retired); otherwise the plan could move a system before what it depends on.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.departments import service as departments
from cloudsvc.errors import InvalidInput, NotFound
from cloudsvc.migration import domain, lifecycle
from cloudsvc.migration import service as inventory
from cloudsvc.migration.lifecycle import SystemStatus
from cloudsvc.migration.models import LegacySystem, MigrationPlan, MigrationWave, WaveSystem
from cloudsvc.migration.schemas import PlanIn
from cloudsvc.principals.authz import Caller, Permission

PLANNABLE = frozenset({SystemStatus.assessed, SystemStatus.planned})
SETTLED = frozenset({SystemStatus.migrated, SystemStatus.retained, SystemStatus.retired})


def _select(session: Session, caller: Caller, data: PlanIn) -> list[LegacySystem]:
    if data.systems is not None:
        systems = []
        for code in dict.fromkeys(data.systems):
            try:
                systems.append(inventory.get(session, caller, code))
            except NotFound as exc:
                raise NotFound("system", code, field="systems") from exc
    else:
        assert data.filter is not None
        systems = list(inventory.list_visible(session, caller, data.filter, after_code=None, limit=None))
    if not systems:
        raise InvalidInput("no system matches; nothing to plan", field="filter")
    for system in systems:
        inventory.require_manage(caller, system)
    return systems


def _check(systems: list[LegacySystem]) -> None:
    chosen = {s.code for s in systems}
    unready = [f"{s.code} ({s.status})" for s in systems if s.status not in PLANNABLE]
    if unready:
        raise InvalidInput(f"only assessed systems can be planned: {', '.join(unready)}", field="systems")
    staying = [s.code for s in systems if not domain.moves(s.strategy or s.suggested_strategy)]
    if staying:
        raise InvalidInput(
            f"retained or retired by strategy, nothing to move: {', '.join(staying)}", field="systems"
        )
    outside = [
        f"{s.code} → {d.depends_on.code}"
        for s in systems
        for d in s.dependencies
        if d.depends_on.code not in chosen and d.depends_on.status not in SETTLED
    ]
    if outside:
        raise InvalidInput(
            "dependencies neither in this plan nor migrated, retained or retired: " + ", ".join(outside),
            field="systems",
        )


def _subtrees(session: Session, caller: Caller, data: PlanIn) -> dict[str, str]:
    """The departments the plan's blackouts name, by code, with their paths (each stands for its subtree)."""
    found: dict[str, str] = {}
    for code in {code for blackout in data.blackouts for code in blackout.departments}:
        department = departments.by_code(session, code)
        if department is None or not caller.may(Permission.migration_read, department.path):
            raise NotFound("department", code, field="blackouts")
        found[code] = department.path
    return found


def create(session: Session, caller: Caller, data: PlanIn) -> MigrationPlan:
    systems = _select(session, caller, data)
    _check(systems)
    result = domain.plan(systems, data, _subtrees(session, caller, data))
    plan = MigrationPlan(
        method=result.method,
        optimal=result.optimal,
        lower_bound=result.lower_bound,
        parameters=data.model_dump(mode="json"),
        created_by=caller.principal_id,
        waves=[],
    )
    ids = [s.id for s in systems]
    # Leave the pending waves of earlier plans (those not executing yet).
    pending = select(MigrationWave.id).where(MigrationWave.status == "planned")
    session.execute(delete(WaveSystem).where(WaveSystem.system_id.in_(ids), WaveSystem.wave_id.in_(pending)))
    by_code = {s.code: s for s in systems}
    for wave in result.waves:
        plan.waves.append(
            MigrationWave(
                number=wave.number,
                starts_on=wave.starts_on,
                ends_on=wave.starts_on + timedelta(days=data.wave_days - 1),
                status="planned",
                systems=[
                    WaveSystem(
                        system_id=by_code[code].id,
                        reason=result.reasons[code],
                        cutover_starts=result.cutover_starts.get(code),
                    )
                    for code in wave.codes
                ],
            )
        )
    session.add(plan)
    for system in systems:
        lifecycle.move(system, SystemStatus.planned, reason="in a wave plan")
    session.flush()
    audit.record(
        session,
        actor=caller.actor,
        action="migration.plan.create",
        target_type="migration_plan",
        target_id=str(plan.id),
        detail={
            "method": plan.method,
            "optimal": plan.optimal,
            "waves": len(plan.waves),
            "lower_bound": plan.lower_bound,
            "systems": len(systems),
        },
    )
    return plan


def get(session: Session, caller: Caller, plan_id: int) -> MigrationPlan:
    plan = session.get(MigrationPlan, plan_id)
    if plan is None:
        raise NotFound("plan", str(plan_id))
    paths = [ws.system.department.path for wave in plan.waves for ws in wave.systems]
    if not (
        caller.may_cloud_wide(Permission.migration_read)
        or any(caller.may(Permission.migration_read, p) for p in paths)
    ):
        raise NotFound("plan", str(plan_id))
    return plan


def systems_of(session: Session, wave: MigrationWave) -> list[LegacySystem]:
    return list(
        session.scalars(
            select(LegacySystem)
            .join(WaveSystem, WaveSystem.system_id == LegacySystem.id)
            .where(WaveSystem.wave_id == wave.id)
        ).unique()
    )
