"""Hand-made plans with known optima: the waves, the method reported, the bound and each system's reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from migrations_plan.model import Period, ScopedBlackout
from migrations_plan.planner import PlanningError, WaveCapacity, plan_waves, violations

from .factories import START, dep, problem, system, window

TAX = Period(START, START + timedelta(days=13), "tax season")  # waves 1 and 2 (weekly waves)


@pytest.mark.parametrize("method", ["heuristic", "cp-sat", "auto"])
def test_a_chain_of_before_edges_takes_one_wave_per_link(method: str) -> None:
    prob = problem([system("db"), system("app"), system("web")], [dep("app", "db"), dep("web", "app")])
    plan = plan_waves(prob, method=method)
    assert [w.systems for w in plan.waves] == [("db",), ("app",), ("web",)]
    assert (plan.optimal, plan.lower_bound) == (True, 3)
    assert plan.waves[1].starts == date(2026, 1, 12)
    assert plan.waves[1].ends == date(2026, 1, 18)
    assert plan.reasons["web"] == "wave 3: earliest wave 3: after its dependency app (wave 2, before)"
    assert plan.reasons["db"] == "wave 1: no dependency holds it back"


def test_cp_sat_finds_the_packing_optimum() -> None:
    # vcpus 6, 5, 5, 4 in waves of 10: optimum {6, 4} {5, 5} = 2 waves
    prob = problem(
        [system("a", vcpus=6), system("b", vcpus=5), system("c", vcpus=5), system("d", vcpus=4)],
        capacity=WaveCapacity(systems=4, vcpus=10, storage_gb=10_000, cutover_hours=100.0),
    )
    exact = plan_waves(prob, method="cp-sat")
    assert (exact.method, exact.optimal, exact.last_wave) == ("cp-sat", True, 2)
    assert sorted(sorted(w.systems) for w in exact.waves) == [["a", "d"], ["b", "c"]]
    assert violations(prob, exact) == []


def test_a_global_blackout_leaves_its_wave_empty() -> None:
    holiday = Period(START + timedelta(days=8), START + timedelta(days=8), "spring festival")  # wave 2
    prob = problem(
        [system("a"), system("b"), system("c")],
        [dep("b", "a"), dep("c", "b", "not_after")],
        blackouts=(holiday,),
    )
    plan = plan_waves(prob)
    assert [(w.number, w.systems) for w in plan.waves] == [(1, ("a",)), (3, ("b", "c"))]
    assert plan.optimal
    assert plan.reasons["b"] == (
        "wave 3: earliest wave 2: after its dependency a (wave 1, before); "
        "wave 2 overlaps global blackout spring festival (2026-01-13..2026-01-13)"
    )


@pytest.mark.parametrize("method", ["heuristic", "cp-sat"])
def test_a_systems_blackout_and_a_full_wave_are_given_as_reasons(method: str) -> None:
    prob = problem(
        [system("tax", blackouts=(TAX,)), system("x", vcpus=8), system("y", vcpus=8), system("z", vcpus=8)],
        capacity=WaveCapacity(systems=4, vcpus=16, storage_gb=10_000, cutover_hours=100.0),
    )
    plan = plan_waves(prob, method=method)
    assert plan.last_wave == 3
    assert plan.optimal
    assert plan.reasons["tax"].startswith(
        "wave 3: no dependency holds it back; wave 1 overlaps blackout tax season"
    )
    late = next(code for code in "xyz" if plan.wave_of()[code] == 2)
    assert plan.reasons[late] == (
        "wave 2: no dependency holds it back; wave 1 full on vcpus (16 of 16 used, needs 8)"
    )


def test_a_same_wave_group_moves_together_and_says_so() -> None:
    prob = problem(
        [system("a"), system("b"), system("c")],
        [dep("b", "a", "same_wave"), dep("c", "b", "not_after"), dep("b", "c", "not_after")],
    )
    plan = plan_waves(prob)
    assert [w.systems for w in plan.waves] == [("a", "b", "c")]
    assert "3 systems move together (same_wave or a not_after cycle): a, b, c" in plan.reasons["a"]


def test_no_systems_make_an_empty_plan() -> None:
    plan = plan_waves(problem([]))
    assert (plan.waves, plan.optimal, plan.lower_bound) == ((), True, 0)


def test_auto_uses_cp_sat_only_when_the_heuristic_misses_the_bound() -> None:
    easy = problem([system("a"), system("b")], [dep("b", "a")])
    assert plan_waves(easy).method == "heuristic"
    # found by random search: greedy packing plus a chain keep the heuristic above the bound (4), while
    # the optimum is 5, so only CP-SAT can prove it
    packing = problem(
        [system(f"s{i}", vcpus=v) for i, v in enumerate([9, 5, 6, 6, 6, 2, 5])],
        [dep("s5", "s1", "before"), dep("s6", "s3", "not_after")],
        capacity=WaveCapacity(systems=5, vcpus=10, storage_gb=10_000, cutover_hours=100.0),
    )
    heuristic = plan_waves(packing, method="heuristic")
    assert heuristic.last_wave >= 5
    assert (heuristic.lower_bound, heuristic.optimal) == (4, False)
    auto = plan_waves(packing)
    assert (auto.method, auto.last_wave, auto.optimal, auto.lower_bound) == ("cp-sat", 5, True, 5)
    assert violations(packing, auto) == []


@pytest.mark.parametrize("method", ["heuristic", "cp-sat"])
def test_a_cutover_starts_when_a_maintenance_window_opens(method: str) -> None:
    # Daily waves from a Monday: the portal may only be taken down from Saturday 22:00, in wave 6.
    prob = problem(
        [system("portal", windows=(window("sat", "22:00", "06:00"),)), system("mail")],
        wave_days=1,
    )
    plan = plan_waves(prob, method=method)
    assert plan.wave_of() == {"portal": 6, "mail": 1}
    assert plan.optimal
    assert plan.cutover_starts == {"portal": datetime(2026, 1, 10, 22, 0), "mail": None}
    assert plan.reasons["portal"] == (
        "wave 6: no dependency holds it back; "
        "wave 1 opens none of the maintenance windows of portal (sat 22:00-06:00); "
        "wave 2 opens none of the maintenance windows of portal (sat 22:00-06:00); "
        "… and 3 more waves: wave 5 opens none of the maintenance windows of portal (sat 22:00-06:00)"
    )
    assert violations(prob, plan) == []


@pytest.mark.parametrize("method", ["heuristic", "cp-sat"])
def test_windows_and_dependencies_together(method: str) -> None:
    # Two-day waves from Monday: wave 1 = Mon-Tue, 2 = Wed-Thu, 3 = Fri-Sat, 4 = Sun-Mon, ...
    prob = problem(
        [
            system("db", windows=(window("sun", "02:00", "04:00"),)),
            system("app", windows=(window("wed", "20:00", "23:00"), window("fri", "20:00", "23:00"))),
        ],
        [dep("app", "db", "before")],
        wave_days=2,
    )
    plan = plan_waves(prob, method=method)
    # db's Sunday first falls in wave 4 (Sun-Mon); app after it, in wave 5 (Tue-Wed) on Wednesday.
    assert plan.wave_of() == {"db": 4, "app": 5}
    assert plan.cutover_starts == {"db": datetime(2026, 1, 11, 2, 0), "app": datetime(2026, 1, 14, 20, 0)}
    assert plan.optimal
    assert violations(prob, plan) == []


def test_systems_that_move_together_need_a_wave_where_both_windows_open() -> None:
    prob = problem(
        [
            system("a", windows=(window("mon", "22:00", "02:00"),)),
            system("b", windows=(window("tue", "22:00", "02:00"),)),
        ],
        [dep("b", "a", "same_wave")],
        wave_days=1,
    )
    with pytest.raises(PlanningError) as refused:
        plan_waves(prob)
    assert refused.value.problems == [
        "systems a, b move together, but their maintenance windows never open in one wave"
    ]
    assert refused.value.systems == ["a", "b"]
    # With two-day waves, Monday and Tuesday share wave 1.
    plan = plan_waves(replace(prob, wave_days=2))
    assert plan.wave_of() == {"a": 1, "b": 1}


@pytest.mark.parametrize("method", ["heuristic", "cp-sat"])
def test_blackouts_of_a_department_or_a_tag_keep_only_their_systems_out(method: str) -> None:
    prob = problem(
        [
            system("ledger", department="finance"),
            system("clinic", department="health"),
            system("claims", department="health", tags=("TAX",)),
        ],
        scoped_blackouts=(
            ScopedBlackout(TAX, departments=frozenset({"finance"})),
            ScopedBlackout(TAX, tags=frozenset({"tax"})),
        ),
    )
    plan = plan_waves(prob, method=method)
    assert plan.wave_of() == {"ledger": 3, "clinic": 1, "claims": 3}
    assert plan.reasons["ledger"].startswith(
        "wave 3: no dependency holds it back; "
        "wave 1 overlaps blackout tax season (2026-01-05..2026-01-18) for department finance"
    )
    assert (
        "wave 1 overlaps blackout tax season (2026-01-05..2026-01-18) for tag tax" in plan.reasons["claims"]
    )
    assert violations(prob, plan) == []
