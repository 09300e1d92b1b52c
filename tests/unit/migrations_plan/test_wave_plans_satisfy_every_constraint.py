"""Every plan the planner returns passes the independent checker, on random problems: dependencies,
capacity, blackouts global, per system and per department or tag, maintenance windows, max_waves."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrations_plan.assessment import find_cycles
from migrations_plan.planner import PlanningError, PlanningProblem, plan_waves, violations

from .strategies import brute_force_last_wave, planning_problems

METHODS = st.sampled_from(["heuristic", "cp-sat", "auto"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prob=planning_problems(), method=METHODS)
def test_random_plans_break_no_constraint(prob: PlanningProblem, method: str) -> None:
    refused: PlanningError | None = None
    try:
        plan = plan_waves(prob, method=method, time_limit_s=5)
    except PlanningError as error:
        refused = error
    if refused is not None:
        assert refused.problems
        assert set(refused.systems) <= {s.code for s in prob.systems}
        if prob.max_waves is None:
            # only cycles, oversized groups and groups whose windows never meet make an unlimited plan
            # impossible
            cycles = find_cycles(prob.systems, prob.dependencies)
            assert cycles or any(
                "capacity" in p or "never open in one wave" in p for p in refused.problems
            ), refused.problems
        return
    assert violations(prob, plan) == []
    assert plan.lower_bound <= plan.last_wave
    if plan.optimal:
        assert plan.lower_bound == plan.last_wave


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prob=planning_problems(max_systems=5, cycles=False))
def test_cp_sat_finds_the_brute_force_optimum(prob: PlanningProblem) -> None:
    horizon = prob.max_waves or 7
    optimum = brute_force_last_wave(prob, horizon)
    try:
        exact = plan_waves(prob, method="cp-sat", time_limit_s=5)
    except PlanningError:
        assert optimum is None
        return
    assert exact.optimal
    if optimum is None:  # the best plan ends after the brute force's horizon
        assert exact.last_wave > horizon
        return
    assert exact.last_wave == optimum
    assert exact.lower_bound == optimum
    heuristic = plan_waves(prob, method="heuristic")
    assert heuristic.last_wave >= optimum
    assert heuristic.lower_bound <= optimum
