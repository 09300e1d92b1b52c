"""Problems no plan can satisfy raise PlanningError, which says why and names the systems at fault."""

from __future__ import annotations

from datetime import timedelta

import pytest

from migrations_plan.model import Period
from migrations_plan.planner import PlanningError, WaveCapacity, plan_waves

from .factories import START, dep, problem, system

SMALL = WaveCapacity(systems=2, vcpus=10, storage_gb=500, cutover_hours=4.0)


@pytest.mark.parametrize("method", ["heuristic", "cp-sat", "auto"])
def test_a_before_cycle_is_refused(method: str) -> None:
    prob = problem(
        [system("a"), system("b"), system("c"), system("d")],
        [dep("b", "a", "before"), dep("c", "b", "not_after"), dep("a", "c", "same_wave")],
    )
    with pytest.raises(PlanningError, match="dependency cycle") as caught:
        plan_waves(prob, method=method)
    assert caught.value.systems == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("big", "expected"),
    [
        (system("big", vcpus=11), "system big exceed one wave's capacity: vcpus 11 > 10"),
        (system("big", storage_gb=501), "storage_gb 501 > 500"),
        (system("big", cutover_hours=4.5), "cutover_hours 4.5 > 4"),
    ],
)
def test_a_system_larger_than_a_wave_is_refused(big: object, expected: str) -> None:
    prob = problem([system("ok"), big], capacity=SMALL)  # type: ignore[list-item]
    with pytest.raises(PlanningError, match=expected) as caught:
        plan_waves(prob)
    assert caught.value.systems == ["big"]


def test_a_same_wave_group_larger_than_a_wave_is_refused() -> None:
    prob = problem(
        [system("a", vcpus=6), system("b", vcpus=6), system("c")],
        [dep("b", "a", "same_wave")],
        capacity=SMALL,
    )
    with pytest.raises(PlanningError, match="systems a, b, which move together,") as caught:
        plan_waves(prob)
    assert caught.value.systems == ["a", "b"]


def test_unknown_and_duplicate_codes_are_refused() -> None:
    with pytest.raises(PlanningError, match="unknown system ghost") as caught:
        plan_waves(problem([system("a")], [dep("a", "ghost")]))
    assert caught.value.systems == ["ghost"]
    with pytest.raises(PlanningError, match="system a is listed more than once"):
        plan_waves(problem([system("a"), system("a")]))


@pytest.mark.parametrize("method", ["heuristic", "cp-sat", "auto"])
def test_a_blackout_past_max_waves_is_refused(method: str) -> None:
    year_end = Period(START, START + timedelta(days=27), "year-end closing")  # waves 1 to 4
    prob = problem([system("a"), system("fin", blackouts=(year_end,))], max_waves=4)
    with pytest.raises(PlanningError, match="fin: dependencies and blackouts allow wave 5") as caught:
        plan_waves(prob, method=method)
    assert caught.value.systems == ["fin"]


@pytest.mark.parametrize("method", ["heuristic", "cp-sat", "auto"])
def test_a_chain_longer_than_max_waves_is_refused(method: str) -> None:
    prob = problem(
        [system("a"), system("b"), system("c")],
        [dep("b", "a"), dep("c", "b")],
        max_waves=2,
    )
    with pytest.raises(PlanningError, match="c: dependencies and blackouts allow wave 3"):
        plan_waves(prob, method=method)


@pytest.mark.parametrize("method", ["heuristic", "cp-sat", "auto"])
def test_more_systems_than_max_waves_can_hold_is_refused(method: str) -> None:
    prob = problem([system(f"s{i}") for i in range(5)], capacity=SMALL, max_waves=2)
    with pytest.raises(PlanningError, match="no plan ends before wave 3"):
        plan_waves(prob, method=method)


def test_cp_sat_proves_a_tight_limit_infeasible_where_the_bounds_do_not() -> None:
    # five systems of 4 vcpus in waves of 10: the volume bound says 2 waves (20 / 10), but only two fit
    # in a wave (12 > 10), so 3 are needed: only the exhaustive search can tell.
    prob = problem(
        [system(f"s{i}", vcpus=4) for i in range(5)],
        capacity=WaveCapacity(systems=5, vcpus=10, storage_gb=10_000, cutover_hours=100.0),
        max_waves=2,
    )
    with pytest.raises(PlanningError, match="CP-SAT proved it infeasible"):
        plan_waves(prob, method="cp-sat")
    with pytest.raises(PlanningError, match="the heuristic found no plan within max_waves 2"):
        plan_waves(prob, method="heuristic")


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="method: 'magic'"):
        plan_waves(problem([system("a")]), method="magic")
