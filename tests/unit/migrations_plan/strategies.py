"""Hypothesis strategies for random planning problems, and a brute-force optimum to compare against."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta

from hypothesis import strategies as st

from migrations_plan.model import Coupling, Dependency, MaintenanceWindow, Period, ScopedBlackout
from migrations_plan.planner import Plan, PlanningProblem, Wave, WaveCapacity, violations

from .factories import START, problem, system

DEPARTMENTS = ["finance", "health", "education"]
TAGS = ["tax", "exams"]


@st.composite
def periods(draw: st.DrawFn, label: str) -> Period:
    offset = draw(st.integers(-10, 60))
    length = draw(st.integers(0, 12))
    starts = START + timedelta(days=offset)
    return Period(starts, starts + timedelta(days=length), label)


@st.composite
def windows(draw: st.DrawFn) -> tuple[MaintenanceWindow, ...]:
    """Mostly none (any time); else one or two weekly windows, at times that do not matter to the plan."""
    days = draw(st.sets(st.integers(0, 6), max_size=2) | st.just(set()))
    return tuple(
        MaintenanceWindow(day, time(draw(st.sampled_from([1, 22]))), time(5)) for day in sorted(days)
    )


@st.composite
def scoped_blackouts(draw: st.DrawFn) -> ScopedBlackout:
    departments = draw(st.sets(st.sampled_from(DEPARTMENTS), max_size=1))
    tags = draw(st.sets(st.sampled_from(TAGS), min_size=0 if departments else 1, max_size=1))
    return ScopedBlackout(draw(periods("scoped")), frozenset(departments), frozenset(tags))


@st.composite
def planning_problems(
    draw: st.DrawFn, max_systems: int = 12, max_waves: bool = True, cycles: bool = True
) -> PlanningProblem:
    count = draw(st.integers(1, max_systems))
    systems = [
        system(
            f"s{i}",
            vcpus=draw(st.integers(0, 8)),
            storage_gb=draw(st.integers(0, 300)),
            cutover_hours=draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.25, 3.0])),
            blackouts=tuple(draw(st.lists(periods(f"blackout of s{i}"), max_size=2))),
            department=draw(st.sampled_from(DEPARTMENTS)),
            tags=tuple(draw(st.sets(st.sampled_from([t.upper() for t in TAGS] + TAGS), max_size=2))),
            windows=draw(windows()),
        )
        for i in range(count)
    ]
    couplings = st.sampled_from([Coupling.before, Coupling.not_after] * 3 + [Coupling.same_wave])
    pairs = st.tuples(st.integers(0, count - 1), st.integers(0, count - 1), couplings)
    dependencies = [
        Dependency(f"s{a}", f"s{b}", coupling)
        for a, b, coupling in draw(st.lists(pairs, max_size=2 * count))
        # mostly acyclic: a system depends on lower-numbered ones (same_wave edges can still close a loop)
        if a > b
    ]
    if cycles:  # at most one edge in any direction, which may close a loop
        dependencies += [Dependency(f"s{a}", f"s{b}", c) for a, b, c in draw(st.lists(pairs, max_size=1))]
    capacity = WaveCapacity(
        systems=draw(st.integers(1, 6)),
        vcpus=draw(st.integers(8, 20)),
        storage_gb=draw(st.integers(300, 600)),
        cutover_hours=draw(st.sampled_from([3.0, 4.5, 6.0, 8.0])),
    )
    return problem(
        systems,
        dependencies,
        capacity=capacity,
        blackouts=tuple(draw(st.lists(periods("global"), max_size=2))),
        max_waves=draw(st.none() | st.integers(1, 8)) if max_waves else None,
        wave_days=draw(st.integers(1, 10)),  # under a week, the maintenance windows decide waves too
        scoped_blackouts=tuple(draw(st.lists(scoped_blackouts(), max_size=2))),
    )


def brute_force_last_wave(prob: PlanningProblem, horizon: int) -> int | None:
    """The smallest last wave of any valid plan up to ``horizon``, by trying every assignment."""
    codes = [s.code for s in prob.systems]
    reasons = dict.fromkeys(codes, "brute force")
    for last in range(1, horizon + 1):
        for assignment in itertools.product(range(1, last + 1), repeat=len(codes)):
            if last not in assignment:
                continue
            waves = tuple(
                Wave(
                    k,
                    prob.wave_period(k).starts,
                    prob.wave_period(k).ends,
                    tuple(c for c, w in zip(codes, assignment, strict=True) if w == k),
                )
                for k in sorted(set(assignment))
            )
            starts = {
                c: _first_opening(prob, w, s.windows)
                for c, w, s in zip(codes, assignment, prob.systems, strict=True)
                if s.windows
            }
            if not violations(prob, Plan(waves, "brute", False, 0, reasons, starts)):
                return last
    return None


def _first_opening(prob: PlanningProblem, wave: int, found: tuple[MaintenanceWindow, ...]) -> datetime | None:
    """The brute force's own reading of when a window first opens in a wave (none: the checker says so)."""
    period = prob.wave_period(wave)
    for offset in range((period.ends - period.starts).days + 1):
        day = period.starts + timedelta(days=offset)
        for w in found:
            if w.weekday == day.weekday():
                return datetime.combine(day, w.opens)
    return None
