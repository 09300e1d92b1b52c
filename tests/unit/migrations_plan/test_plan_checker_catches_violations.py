"""The independent checker: a valid plan passes, and each kind of broken constraint is caught and named.

Each case takes a valid plan and breaks exactly one thing, so a checker that skips a constraint fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest

from migrations_plan.model import Period, ScopedBlackout
from migrations_plan.planner import Plan, PlanningProblem, Wave, WaveCapacity, violations

from .factories import START, dep, problem, system, window

WEEK = timedelta(days=7)


def wave(number: int, *codes: str) -> Wave:
    starts = START + (number - 1) * WEEK
    return Wave(number, starts, starts + timedelta(days=6), codes)


def base() -> tuple[PlanningProblem, Plan]:
    prob = problem(
        [system("db"), system("app"), system("web"), system("cache"), system("tax", blackouts=(TAX,))],
        [dep("app", "db", "before"), dep("web", "app", "not_after"), dep("cache", "web", "same_wave")],
        capacity=WaveCapacity(systems=3, vcpus=12, storage_gb=300, cutover_hours=6.0),
        blackouts=(HOLIDAY,),
        max_waves=5,
    )
    plan = Plan(
        waves=(wave(1, "db"), wave(2, "app", "web", "cache"), wave(4, "tax")),
        method="heuristic",
        optimal=True,
        lower_bound=4,
        reasons={code: "test" for code in ("db", "app", "web", "cache", "tax")},
    )
    return prob, plan


TAX = Period(START, START + 2 * WEEK - timedelta(days=1), "tax season")  # waves 1 and 2
HOLIDAY = Period(
    START + 2 * WEEK + timedelta(days=3), START + 2 * WEEK + timedelta(days=3), "holiday"
)  # wave 3


def with_waves(*waves: Wave) -> Callable[[Plan], Plan]:
    return lambda plan: replace(plan, waves=waves)


BREAKAGES: dict[str, tuple[Callable[[Plan], Plan], str]] = {
    "system missing": (with_waves(wave(1, "db"), wave(2, "app", "web", "cache")), "tax: in no wave"),
    "system twice": (
        with_waves(wave(1, "db", "tax"), wave(2, "app", "web", "cache"), wave(4, "tax")),
        "tax: in wave 1 and in wave 4",
    ),
    "unknown system": (
        with_waves(wave(1, "db", "ghost"), wave(2, "app", "web", "cache"), wave(4, "tax")),
        "ghost is not a system",
    ),
    "wave listed twice": (
        with_waves(wave(1, "db"), wave(2, "app", "web"), wave(2, "cache"), wave(4, "tax")),
        "wave 2: listed twice",
    ),
    "wave number zero": (
        with_waves(wave(0, "db"), wave(2, "app", "web", "cache"), wave(4, "tax")),
        "wave numbers start at 1",
    ),
    "wrong dates": (
        with_waves(
            wave(1, "db"), replace(wave(2, "app", "web", "cache"), ends=date(2026, 2, 1)), wave(4, "tax")
        ),
        "should be 2026-01-12..2026-01-18",
    ),
    "beyond max_waves": (
        with_waves(wave(1, "db"), wave(2, "app", "web", "cache"), wave(6, "tax")),
        "beyond max_waves 5",
    ),
    "own blackout": (
        with_waves(wave(1, "db"), wave(2, "app", "web", "cache", "tax")),
        "tax: wave 2",
    ),
    "global blackout": (
        with_waves(wave(1, "db"), wave(2, "app", "web", "cache"), wave(3, "tax")),
        "overlaps blackout holiday",
    ),
    "before broken": (
        with_waves(wave(1, "db", "app", "web"), wave(2, "cache"), wave(4, "tax")),
        "app -[before]-> db: app in wave 1, db in wave 1",
    ),
    "not_after broken": (
        with_waves(wave(1, "db"), wave(2, "app"), wave(4, "tax"), wave(1, "web", "cache")),
        "web -[not_after]-> app: web in wave 1, app in wave 2",
    ),
    "same_wave broken": (
        with_waves(wave(1, "db"), wave(2, "app", "web"), wave(4, "tax", "cache")),
        "cache -[same_wave]-> web",
    ),
    "lower bound above the plan": (lambda plan: replace(plan, lower_bound=5), "lower bound 5 above"),
    "reason missing": (lambda plan: replace(plan, reasons={"db": "x"}), "no reason given for app, cache"),
}


def test_the_valid_plan_passes() -> None:
    prob, plan = base()
    assert violations(prob, plan) == []


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_broken_constraint_is_named(breakage: str) -> None:
    prob, plan = base()
    change, expected = BREAKAGES[breakage]
    found = violations(prob, change(plan))
    assert any(expected in message for message in found), found


@pytest.mark.parametrize(
    ("capacity", "expected"),
    [
        (
            WaveCapacity(systems=2, vcpus=12, storage_gb=300, cutover_hours=6.0),
            "wave 2: systems 3 > capacity 2",
        ),
        (
            WaveCapacity(systems=3, vcpus=11, storage_gb=300, cutover_hours=6.0),
            "wave 2: vcpus 12 > capacity 11",
        ),
        (
            WaveCapacity(systems=3, vcpus=12, storage_gb=299, cutover_hours=6.0),
            "wave 2: storage_gb 300 > capacity 299",
        ),
        (
            WaveCapacity(systems=3, vcpus=12, storage_gb=300, cutover_hours=5.5),
            "wave 2: cutover_hours 6 > capacity 5.5",
        ),
    ],
)
def test_each_capacity_dimension_is_checked(capacity: WaveCapacity, expected: str) -> None:
    prob, plan = base()
    assert violations(replace(prob, capacity=capacity), plan) == [expected]


def test_fractional_cutover_hours_that_add_up_exactly_fit() -> None:
    prob = problem(
        [system(code, cutover_hours=0.1) for code in "abc"],
        capacity=WaveCapacity(systems=3, vcpus=100, storage_gb=1000, cutover_hours=0.3),
    )
    plan = Plan((wave(1, "a", "b", "c"),), "heuristic", True, 1, dict.fromkeys("abc", "test"))
    assert violations(prob, plan) == []


SATURDAY_NIGHT = window("sat", "22:00", "06:00")
SATURDAY = START + timedelta(days=5)


def windowed() -> tuple[PlanningProblem, Plan]:
    """A system that may be taken down on Saturday nights only, and two under scoped blackouts of wave 1."""
    prob = problem(
        [
            system("portal", windows=(SATURDAY_NIGHT, window("sun", "01:00", "05:00"))),
            system("ledger", department="treasury"),
            system("filing", department="health", tags=("Tax",)),
        ],
        scoped_blackouts=(
            ScopedBlackout(Period(START, START, "year-end close"), departments=frozenset({"treasury"})),
            ScopedBlackout(Period(START, START, "tax season"), tags=frozenset({"tax"})),
        ),
    )
    plan = Plan(
        waves=(wave(1, "portal"), wave(2, "ledger", "filing")),
        method="heuristic",
        optimal=True,
        lower_bound=2,
        reasons=dict.fromkeys(("portal", "ledger", "filing"), "test"),
        cutover_starts={"portal": datetime.combine(SATURDAY, time(22)), "ledger": None},
    )
    return prob, plan


def test_a_valid_plan_with_windows_and_scoped_blackouts_passes() -> None:
    prob, plan = windowed()
    assert violations(prob, plan) == []


def _starts(**starts: datetime | None) -> Callable[[Plan], Plan]:
    return lambda plan: replace(plan, cutover_starts=starts)


WINDOW_BREAKAGES: dict[str, tuple[Callable[[Plan], Plan], str]] = {
    "no start for a system with windows": (
        _starts(),
        "portal: no cutover start given, its maintenance windows are sat 22:00-06:00, sun 01:00-05:00",
    ),
    "a start outside its windows": (
        _starts(portal=datetime.combine(SATURDAY, time(21))),
        "portal: cutover starts Sat 2026-01-10 21:00, not when one of its maintenance windows opens",
    ),
    "a start on the wrong day": (
        _starts(portal=datetime.combine(SATURDAY - timedelta(days=1), time(22))),
        "not when one of its maintenance windows opens",
    ),
    "a start in another wave": (
        _starts(portal=datetime.combine(SATURDAY + WEEK, time(22))),
        "portal: cutover starts 2026-01-17 22:00, outside its wave (2026-01-05..2026-01-11)",
    ),
    "a start outside the wave of a system without windows": (
        _starts(portal=datetime.combine(SATURDAY, time(22)), ledger=datetime.combine(START, time(1))),
        "ledger: cutover starts 2026-01-05 01:00, outside its wave (2026-01-12..2026-01-18)",
    ),
    "a start for a stranger": (
        _starts(portal=datetime.combine(SATURDAY, time(22)), ghost=None),
        "cutover starts given for ghost, not systems of the problem",
    ),
    "a department's blackout": (
        with_waves(wave(1, "portal", "ledger"), wave(2, "filing")),
        "ledger: wave 1 (2026-01-05..2026-01-11) overlaps blackout year-end close",
    ),
    "a tag's blackout, whatever the tag's case": (
        with_waves(wave(1, "portal", "filing"), wave(2, "ledger")),
        "filing: wave 1 (2026-01-05..2026-01-11) overlaps blackout tax season",
    ),
}


@pytest.mark.parametrize("breakage", sorted(WINDOW_BREAKAGES))
def test_each_broken_window_or_scoped_blackout_is_named(breakage: str) -> None:
    prob, plan = windowed()
    change, expected = WINDOW_BREAKAGES[breakage]
    found = violations(prob, change(plan))
    assert any(expected in message for message in found), found
