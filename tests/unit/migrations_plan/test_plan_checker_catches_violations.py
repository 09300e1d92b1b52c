"""The independent checker: a valid plan passes, and each kind of broken constraint is caught and named.

Each case takes a valid plan and breaks exactly one thing, so a checker that skips a constraint fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import pytest

from migrations_plan.model import Period
from migrations_plan.planner import Plan, PlanningProblem, Wave, WaveCapacity, violations

from .factories import START, dep, problem, system

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
