"""The exact planner: the wave assignment as a CP-SAT model, minimising the last wave.

One boolean per group and wave it may use (between its earliest wave and the last wave that still leaves
room for its strict tail under the horizon, skipping blocked waves), exactly one per group; capacity as a
linear constraint per wave and dimension; dependencies as ``wave(head) >= wave(tail) + lag``. The horizon is
the heuristic's plan, given as a hint, so CP-SAT starts from a solution and works on proving or improving it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from migrations_plan.instance import Instance


@dataclass(frozen=True)
class ExactResult:
    waves: list[int] | None  # per group; None when no solution was found in time
    optimal: bool
    infeasible: bool  # proven: no plan within the horizon
    bound: int  # proven lower bound on the last wave


def solve(
    instance: Instance,
    earliest: Sequence[int],
    tails: Sequence[int],
    horizon: int,
    lower: int,
    hint: Sequence[int] | None,
    time_limit_s: float,
) -> ExactResult:
    model = cp_model.CpModel()
    count = len(instance.groups)
    choice: list[dict[int, cp_model.IntVar]] = []
    wave_vars: list[cp_model.IntVar] = []
    for group in range(count):
        options = [
            k for k in range(earliest[group], horizon - tails[group] + 1) if instance.allowed(group, k)
        ]
        if not options:
            return ExactResult(None, False, True, lower)
        chosen = {k: model.new_bool_var(f"g{group}w{k}") for k in options}
        model.add_exactly_one(chosen.values())
        wave = model.new_int_var(options[0], options[-1], f"wave{group}")
        model.add(wave == sum(k * var for k, var in chosen.items()))
        choice.append(chosen)
        wave_vars.append(wave)
    for head in range(count):
        for tail, lag, _ in instance.preds[head]:
            model.add(wave_vars[head] >= wave_vars[tail] + lag)
    by_wave: dict[int, list[int]] = {}
    for group, chosen in enumerate(choice):
        for k in chosen:
            by_wave.setdefault(k, []).append(group)
    for k, groups in by_wave.items():
        for dim, cap in enumerate(instance.capacity):
            if sum(instance.demand[g][dim] for g in groups) > cap:
                model.add(sum(instance.demand[g][dim] * choice[g][k] for g in groups) <= cap)
    last = model.new_int_var(lower, horizon, "last")
    model.add_max_equality(last, wave_vars)
    model.minimize(last)
    if hint is not None:
        for group, k in enumerate(hint):
            if k in choice[group]:
                for option, var in choice[group].items():
                    model.add_hint(var, option == k)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = max(1, min(8, os.cpu_count() or 1))
    status = solver.solve(model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ExactResult(
            waves=[solver.value(w) for w in wave_vars],
            optimal=status == cp_model.OPTIMAL,
            infeasible=False,
            bound=max(lower, int(solver.best_objective_bound)),
        )
    return ExactResult(None, False, status == cp_model.INFEASIBLE, lower)
