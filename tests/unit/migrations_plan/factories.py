"""Small builders for migration planning tests."""

from __future__ import annotations

from datetime import date, time

from migrations_plan.model import (
    WEEKDAYS,
    Coupling,
    Dependency,
    LegacySystem,
    MaintenanceWindow,
    Period,
    ScopedBlackout,
)
from migrations_plan.planner import PlanningProblem, WaveCapacity

START = date(2026, 1, 5)  # a Monday


def system(
    code: str,
    *,
    vcpus: int = 4,
    storage_gb: int = 100,
    cutover_hours: float = 2.0,
    blackouts: tuple[Period, ...] = (),
    classified: bool = False,
    mlps_level: int = 2,
    tags: tuple[str, ...] = (),
    criticality: str = "medium",
    department: str = "finance",
    windows: tuple[MaintenanceWindow, ...] = (),
) -> LegacySystem:
    return LegacySystem(
        code=code,
        department_code=department,
        classified=classified,
        mlps_level=mlps_level,
        vcpus=vcpus,
        ram_mb=8192,
        storage_gb=storage_gb,
        bandwidth_mbps=10,
        criticality=criticality,
        cutover_hours=cutover_hours,
        blackouts=blackouts,
        tags=tags,
        windows=windows,
    )


def window(weekday: str, opens: str, closes: str) -> MaintenanceWindow:
    """A weekly maintenance window, e.g. window("sat", "22:00", "06:00")."""
    return MaintenanceWindow(WEEKDAYS.index(weekday), time.fromisoformat(opens), time.fromisoformat(closes))


def dep(system: str, depends_on: str, coupling: str = "before") -> Dependency:
    return Dependency(system, depends_on, Coupling(coupling))


def problem(
    systems: list[LegacySystem],
    dependencies: list[Dependency] = [],  # noqa: B006 - never mutated
    *,
    capacity: WaveCapacity | None = None,
    blackouts: tuple[Period, ...] = (),
    max_waves: int | None = None,
    wave_days: int = 7,
    scoped_blackouts: tuple[ScopedBlackout, ...] = (),
) -> PlanningProblem:
    return PlanningProblem(
        systems=tuple(systems),
        dependencies=tuple(dependencies),
        capacity=capacity or WaveCapacity(systems=10, vcpus=100, storage_gb=10_000, cutover_hours=40.0),
        first_wave_starts=START,
        wave_days=wave_days,
        blackouts=blackouts,
        max_waves=max_waves,
        scoped_blackouts=scoped_blackouts,
    )
