"""The one place where the control plane meets the pure planner (``migrations_plan``): our rows in, its
answers out. Everything else in ``cloudsvc.migration`` speaks in rows and schemas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time

from cloudsvc.errors import InvalidInput
from cloudsvc.migration.models import LegacySystem
from cloudsvc.migration.schemas import PlanIn, PlanMethod
from cloudsvc.resource_requests.schemas import Classification
from cloudsvc.zones.models import Zone
from migrations_plan import assessment, model
from migrations_plan.planner import PlanningError, PlanningProblem, WaveCapacity, plan_waves
from quotas.demand import Demand, QuotaClass

STAYING = frozenset({model.Strategy.retain, model.Strategy.retire})
_METHODS = {PlanMethod.auto: "auto", PlanMethod.cpsat: "cp-sat", PlanMethod.heuristic: "heuristic"}


@dataclass(frozen=True)
class PlannedWave:
    number: int
    starts_on: date
    codes: list[str]


@dataclass(frozen=True)
class PlanResult:
    method: str
    optimal: bool
    lower_bound: int
    waves: list[PlannedWave]
    reasons: dict[str, str]
    cutover_starts: dict[str, datetime | None]
    problem: PlanningProblem  # what the planner was asked, for checking the answer against it


def _periods(periods: Sequence[dict[str, str]]) -> tuple[model.Period, ...]:
    return tuple(
        model.Period(date.fromisoformat(p["start"]), date.fromisoformat(p["end"]), p.get("reason") or "")
        for p in periods
    )


def windows(windows: Sequence[dict[str, str]]) -> tuple[model.MaintenanceWindow, ...]:
    """Stored maintenance windows ({weekday, start, end}) as the planner's."""
    return tuple(
        model.MaintenanceWindow(
            model.WEEKDAYS.index(w["weekday"]), time.fromisoformat(w["start"]), time.fromisoformat(w["end"])
        )
        for w in windows
    )


def to_domain(system: LegacySystem) -> model.LegacySystem:
    return model.LegacySystem(
        code=system.code,
        department_code=system.department.code,
        classified=system.classification == Classification.classified,
        mlps_level=system.mlps_level,
        vcpus=system.vcpus,
        ram_mb=system.ram_mb,
        storage_gb=system.storage_gb,
        bandwidth_mbps=system.bandwidth_mbps,
        criticality=system.criticality,
        cutover_hours=system.cutover_hours,
        blackouts=_periods(system.blackout_periods),
        strategy=model.Strategy(system.strategy) if system.strategy else None,
        tags=tuple(system.tags),
        name=system.name,
        windows=windows(system.maintenance_windows),
    )


def _node(code: str) -> model.LegacySystem:
    # find_cycles reads only codes and edges; the rest of a system does not matter to it.
    return model.LegacySystem(
        code=code,
        department_code="",
        classified=False,
        mlps_level=1,
        vcpus=0,
        ram_mb=0,
        storage_gb=0,
        bandwidth_mbps=0,
        criticality=model.Criticality.low,
        cutover_hours=0,
    )


def cycles(edges: Sequence[tuple[str, str, str]]) -> list[list[str]]:
    """Dependency cycles no plan can satisfy, among edges (system, depends_on, coupling)."""
    codes = sorted({code for a, b, _ in edges for code in (a, b)})
    dependencies = [model.Dependency(a, b, model.Coupling(c)) for a, b, c in edges]
    return assessment.find_cycles([_node(c) for c in codes], dependencies)


def suggest(system: LegacySystem) -> str:
    strategy, _ = assessment.suggest_strategy(to_domain(system))
    return strategy.value


def moves(strategy: str | None) -> bool:
    """Whether a system with this (chosen or suggested) strategy moves at all."""
    return strategy not in STAYING


def choose_zone(
    system: LegacySystem, zones: Sequence[Zone], need: Demand, free: Mapping[int, Demand | None]
) -> tuple[Zone | None, str]:
    """The zone the placement rules choose (or None), and why.

    ``need`` is what the move will request (root disks and whole servers included); ``free``, per zone id,
    the room left in each quota class the zone declares (None: it declares no capacity). The planner's
    system carries the requested figures, so that its capacity rule compares like with like.
    """
    infos = []
    for zone in zones:
        room = free.get(zone.id)
        infos.append(
            model.ZoneInfo(
                name=zone.name,
                network=zone.network,
                mlps_level=zone.mlps_level,
                free_vcpus=room.get(QuotaClass.vcpus) if room else None,
                free_ram_mb=room.get(QuotaClass.ram_mb) if room else None,
                free_storage_gb=room.get(QuotaClass.volume_gb) if room else None,
            )
        )
    requested = replace(
        to_domain(system),
        vcpus=need.get(QuotaClass.vcpus, 0),
        ram_mb=need.get(QuotaClass.ram_mb, 0),
        storage_gb=need.get(QuotaClass.volume_gb, 0),
    )
    chosen, reasons = assessment.choose_zone(requested, infos)
    by_name = {z.name: z for z in zones}
    return (by_name[chosen.name] if chosen else None), "; ".join(reasons)


def _scoped(
    systems: Sequence[LegacySystem], data: PlanIn, subtrees: Mapping[str, str]
) -> tuple[model.ScopedBlackout, ...]:
    """The plan's blackouts for some departments or tags; a department stands for its subtree, so it
    becomes the codes of the systems' departments within it (``subtrees``: department code -> path)."""
    found = []
    for blackout in data.blackouts:
        if not blackout.departments and not blackout.tags:
            continue
        paths = [subtrees[code] for code in blackout.departments]
        departments = {
            s.department.code for s in systems if any(s.department.path.startswith(p) for p in paths)
        }
        found.append(
            model.ScopedBlackout(
                model.Period(blackout.start, blackout.end, blackout.reason or ""),
                # the codes named too: a scoped blackout names something even if no system is under it
                departments=frozenset(departments | set(blackout.departments)),
                tags=frozenset(blackout.tags),
            )
        )
    return tuple(found)


def problem_of(
    systems: Sequence[LegacySystem], data: PlanIn, subtrees: Mapping[str, str] | None = None
) -> PlanningProblem:
    """What the planner is asked; ``subtrees`` maps the departments the blackouts name to their paths."""
    chosen = {s.code for s in systems}
    return PlanningProblem(
        systems=tuple(to_domain(s) for s in systems),
        # Edges to systems outside the plan are settled already (the caller checked): they constrain nothing.
        dependencies=tuple(
            model.Dependency(s.code, d.depends_on.code, model.Coupling(d.coupling))
            for s in systems
            for d in s.dependencies
            if d.depends_on.code in chosen
        ),
        capacity=WaveCapacity(
            systems=data.capacity.systems,
            vcpus=data.capacity.vcpus,
            storage_gb=data.capacity.storage_gb,
            cutover_hours=data.capacity.cutover_hours,
        ),
        first_wave_starts=data.first_wave_starts,
        wave_days=data.wave_days,
        blackouts=tuple(
            model.Period(p.start, p.end, p.reason or "")
            for p in data.blackouts
            if not p.departments and not p.tags
        ),
        scoped_blackouts=_scoped(systems, data, subtrees or {}),
    )


def plan(systems: Sequence[LegacySystem], data: PlanIn, subtrees: Mapping[str, str]) -> PlanResult:
    problem = problem_of(systems, data, subtrees)
    try:
        found = plan_waves(problem, method=_METHODS[data.method], time_limit_s=data.time_limit_seconds)
    except PlanningError as exc:
        raise InvalidInput(f"no plan is possible: {exc}", field="systems", systems=exc.systems) from exc
    return PlanResult(
        method=found.method,
        optimal=found.optimal,
        lower_bound=found.lower_bound,
        waves=[PlannedWave(w.number, w.starts, list(w.systems)) for w in found.waves],
        reasons=found.reasons,
        cutover_starts=found.cutover_starts,
        problem=problem,
    )
