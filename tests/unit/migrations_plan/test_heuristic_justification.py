"""Forward-backward justification of heuristic plans: it packs a plan that leaves room early, never makes
a plan end later, and every plan it returns still passes the independent checker."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings

from migrations_plan.bounds import strict_tails
from migrations_plan.heuristic import justified, schedule
from migrations_plan.instance import Instance, build
from migrations_plan.planner import Plan, PlanningError, PlanningProblem, Wave, WaveCapacity, violations
from migrations_plan.windows import first_opening

from .factories import dep, problem, system
from .strategies import planning_problems


def as_plan(instance: Instance, waves: Sequence[int]) -> Plan:
    """Group waves as a Plan the checker reads (one wave per system, its cutover start, any reason)."""
    prob = instance.problem
    wave_of = {code: waves[instance.group_of[i]] for i, code in enumerate(instance.codes)}
    listed = []
    for number in sorted(set(wave_of.values())):
        period = prob.wave_period(number)
        listed.append(
            Wave(number, period.starts, period.ends, tuple(c for c, w in wave_of.items() if w == number))
        )
    starts = {
        s.code: first_opening(prob.wave_period(wave_of[s.code]), s.windows) for s in prob.systems if s.windows
    }
    return Plan(tuple(listed), "heuristic", False, 0, dict.fromkeys(instance.codes, "test"), starts)


def test_a_plan_with_room_early_is_packed() -> None:
    # Two systems a wave; b and c wait for a. A plan that puts a late and leaves wave 1 half empty ends in
    # wave 4; packed, a and d share wave 1, b and c follow in wave 2.
    prob = problem(
        [system("a"), system("b"), system("c"), system("d")],
        [dep("b", "a"), dep("c", "a")],
        capacity=WaveCapacity(systems=2, vcpus=100, storage_gb=10_000, cutover_hours=100.0),
    )
    instance = build(prob)
    group = {code: instance.group_of[i] for i, code in enumerate(instance.codes)}
    loose = [0] * len(instance.groups)
    for code, wave in {"d": 1, "a": 2, "b": 3, "c": 4}.items():
        loose[group[code]] = wave
    assert violations(prob, as_plan(instance, loose)) == []
    packed = justified(instance, loose)
    assert {code: packed[group[code]] for code in "abcd"} == {"a": 1, "d": 1, "b": 2, "c": 2}
    assert violations(prob, as_plan(instance, packed)) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prob=planning_problems(max_waves=False))
def test_justification_keeps_plans_valid_and_never_longer(prob: PlanningProblem) -> None:
    try:
        instance = build(prob)
    except PlanningError:
        return
    if not instance.groups:
        return
    tails = strict_tails(instance)
    greedy = schedule(instance, lambda g: (-tails[g], g), None)
    assert greedy is not None  # without max_waves every group finds a wave
    improved = justified(instance, greedy)
    assert max(improved) <= max(greedy)
    assert violations(prob, as_plan(instance, improved)) == []
