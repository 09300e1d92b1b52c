"""Wave planning: which wave each system moves in, finishing as early as possible.

The objective is the last wave's number (the date the migration is done). Secondarily every system moves
as early as the plan allows: the heuristic fills waves in order, and a CP-SAT plan is compacted afterwards by
moving each group to the earliest wave where it fits without delaying anything (it never makes the plan end
later); the cloud's coverage, which the province's targets count, then grows as fast as possible.

``method``: "heuristic" (fast, any size), "cp-sat" (exact, proves optimality when it can in the time limit),
or "auto": the heuristic first; if it reaches the lower bound it is optimal and that is the answer, otherwise
CP-SAT improves or proves it when the instance is small enough to expect a proof in time.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from migrations_plan.bounds import earliest_waves, lower_bound, strict_tails
from migrations_plan.checker import violations
from migrations_plan.cpsat import solve
from migrations_plan.explain import reasons
from migrations_plan.heuristic import best_schedule
from migrations_plan.instance import Instance, build
from migrations_plan.model import Period
from migrations_plan.problem import Plan, PlanningError, PlanningProblem, Wave, WaveCapacity
from migrations_plan.windows import first_opening

__all__ = [
    "Plan",
    "PlanningError",
    "PlanningProblem",
    "Wave",
    "WaveCapacity",
    "plan_waves",
    "violations",
]

METHODS = ("auto", "cp-sat", "heuristic")
# "auto" hands an instance to CP-SAT only up to this many (group, wave) booleans: beyond, proofs rarely come
# within seconds and the heuristic's plan stands.
AUTO_EXACT_MAX_CHOICES = 40_000


def plan_waves(problem: PlanningProblem, *, method: str = "auto", time_limit_s: float = 10.0) -> Plan:
    """Plan the waves; raises PlanningError when no plan is possible (or none found within max_waves)."""
    if method not in METHODS:
        raise ValueError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    with _cyclic_gc_paused():
        return _plan_waves(problem, method, time_limit_s)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Planning allocates millions of small tuples and lists, none in reference cycles (reference counting
    frees them all); each allocation burst would otherwise make the cyclic collector rescan the whole
    inventory, which doubled the time for 10,000 systems."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plan_waves(problem: PlanningProblem, method: str, time_limit_s: float) -> Plan:
    started = time.monotonic()
    instance = build(problem)
    if not instance.groups:
        return Plan(waves=(), method="heuristic" if method == "auto" else method, optimal=True, lower_bound=0)
    earliest = earliest_waves(instance)
    tails = strict_tails(instance)
    lower = lower_bound(instance, earliest, tails)
    limit = problem.max_waves
    if limit is not None:
        _check_limit(instance, earliest, lower, limit)
    greedy = best_schedule(instance, tails, lower, limit, budget_s=time_limit_s / 4)
    greedy_last = max(greedy) if greedy is not None else None
    horizon = greedy_last if greedy_last is not None else limit
    assert horizon is not None  # without max_waves the heuristic always finds a plan
    choices = sum(max(0, horizon - tails[g] - earliest[g] + 1) for g in range(len(instance.groups)))
    exact_wanted = method == "cp-sat" or (
        method == "auto" and greedy_last != lower and choices <= AUTO_EXACT_MAX_CHOICES
    )
    if not exact_wanted:
        if greedy is None:
            raise PlanningError(
                [
                    f"the heuristic found no plan within max_waves {limit} (none can end before wave "
                    f"{lower}); method='cp-sat' searches exhaustively"
                ]
            )
        return _plan(instance, greedy, "heuristic", greedy_last == lower, lower)
    remaining = max(0.1, time_limit_s - (time.monotonic() - started))
    result = solve(instance, earliest, tails, horizon, lower, greedy, remaining)
    if result.waves is not None:
        compacted = _left_shift(instance, result.waves)
        return _plan(instance, compacted, "cp-sat", result.optimal, result.bound)
    if greedy is not None:
        return _plan(instance, greedy, "heuristic", greedy_last == result.bound, result.bound)
    if result.infeasible:
        raise PlanningError([f"no plan fits within max_waves {limit}: CP-SAT proved it infeasible"])
    raise PlanningError(
        [f"no plan within max_waves {limit} found in {time_limit_s:g} s (none exists before wave {lower})"]
    )


def _check_limit(instance: Instance, earliest: list[int], lower: int, limit: int) -> None:
    late = [g for g, wave in enumerate(earliest) if wave > limit]
    if late:
        problems = [
            f"{', '.join(instance.codes[m] for m in instance.groups[g])}: dependencies and blackouts allow "
            f"wave {earliest[g]} at the earliest, max_waves is {limit}"
            for g in late
        ]
        raise PlanningError(problems, [instance.codes[m] for g in late for m in instance.groups[g]])
    if lower > limit:
        raise PlanningError(
            [
                f"no plan ends before wave {lower} (dependency chains, blackouts, capacity), "
                f"max_waves is {limit}"
            ]
        )


def _left_shift(instance: Instance, waves: list[int]) -> list[int]:
    """Move groups to earlier waves where they fit and their dependencies allow, until none moves."""
    waves = list(waves)
    load: dict[int, list[int]] = {}
    for group, k in enumerate(waves):
        totals = load.setdefault(k, [0, 0, 0, 0])
        for d in range(4):
            totals[d] += instance.demand[group][d]
    cap = instance.capacity
    moved = True
    while moved:
        moved = False
        for group in instance.topological:
            need = instance.demand[group]
            start = max((waves[p] + lag for p, lag, _ in instance.preds[group]), default=1)
            for k in range(start, waves[group]):
                used = load.setdefault(k, [0, 0, 0, 0])
                if instance.allowed(group, k) and all(used[d] + need[d] <= cap[d] for d in range(4)):
                    for d in range(4):
                        used[d] += need[d]
                        load[waves[group]][d] -= need[d]
                    waves[group] = k
                    moved = True
                    break
    return waves


def _plan(instance: Instance, waves: list[int], method: str, optimal: bool, lower: int) -> Plan:
    members: dict[int, list[str]] = {}
    for group, k in enumerate(waves):
        members.setdefault(k, []).extend(instance.codes[m] for m in instance.groups[group])
    order = {code: i for i, code in enumerate(instance.codes)}
    listed = []
    for number in sorted(members):
        period = instance.problem.wave_period(number)
        listed.append(
            Wave(number, period.starts, period.ends, tuple(sorted(members[number], key=order.__getitem__)))
        )
    starts: dict[str, datetime | None] = dict.fromkeys(instance.codes)
    for wave in listed:
        for code in wave.systems:
            windows = instance.problem.systems[order[code]].windows
            if windows:  # the planners kept it out of waves where none opens
                starts[code] = first_opening(Period(wave.starts, wave.ends), windows)
    return Plan(
        waves=tuple(listed),
        method=method,
        optimal=optimal,
        lower_bound=lower,
        reasons=reasons(instance, waves),
        cutover_starts=starts,
    )
