"""The exact planner: the wave assignment as a CP-SAT model, minimising the last wave.

One boolean per group and wave it may use (between its earliest wave and the last wave that still leaves
room for its strict tail under the horizon, skipping blocked waves), exactly one per group; capacity as a
linear constraint per wave and dimension; dependencies as ``wave(head) >= wave(tail) + lag``. The horizon is
the heuristic's plan, given as a hint, so CP-SAT starts from a solution and works on proving or improving it.
"""

from __future__ import annotations

import math
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
    # done[g][k - first[g]]: group g has moved by wave k, for k in first[g]..final[g] (true at final[g])
    first = list(earliest)
    final = [instance.previous_allowed(g, horizon - tails[g]) for g in range(count)]
    done: list[list[cp_model.IntVar]] = []
    for group in range(count):
        if final[group] < first[group]:
            return ExactResult(None, False, True, lower)
        steps = [model.new_bool_var(f"g{group}by{k}") for k in range(first[group], final[group] + 1)]
        model.add(steps[-1] == 1)
        for k in range(first[group] + 1, final[group] + 1):
            i = k - first[group]
            if instance.allowed(group, k):
                model.add_implication(steps[i - 1], steps[i])
            else:
                model.add(steps[i] == steps[i - 1])  # cannot move in a blocked wave
        done.append(steps)

    def moved_by(group: int, k: int) -> cp_model.IntVar | int:
        if k < first[group]:
            return 0
        if k >= final[group]:
            return 1
        return done[group][k - first[group]]

    for head in range(count):
        for tail, lag, _ in instance.preds[head]:
            # Up to and including final[head], where the head has moved whatever: a blocked wave can put a
            # head's final wave before its tail's, and that tail must still be done in time.
            for k in range(first[head], final[head] + 1):
                before = moved_by(tail, k - lag)
                if isinstance(before, int):
                    if before == 0:
                        model.add(done[head][k - first[head]] == 0)
                    continue
                model.add_implication(done[head][k - first[head]], before)
    by_wave: dict[int, list[int]] = {}
    for group in range(count):
        for k in range(first[group], final[group] + 1):
            if instance.allowed(group, k):
                by_wave.setdefault(k, []).append(group)
    for k, groups in by_wave.items():
        for dim, cap in enumerate(instance.capacity):
            if sum(instance.demand[g][dim] for g in groups) > cap:
                model.add(
                    sum(instance.demand[g][dim] * (moved_by(g, k) - moved_by(g, k - 1)) for g in groups)
                    <= cap
                )
    # finished[k]: every group has moved by wave k; the last wave is the first k where that holds
    finished = {k: model.new_bool_var(f"finished{k}") for k in range(lower, horizon)}
    for k, var in finished.items():
        if k + 1 in finished:
            model.add_implication(var, finished[k + 1])
        for group in range(count):
            step = moved_by(group, k)
            if not isinstance(step, int):
                model.add_implication(var, step)
            elif step == 0:
                model.add(var == 0)
    model.minimize(horizon - sum(finished.values()))
    if hint is not None:
        for group, wave in enumerate(hint):
            for k in range(first[group], final[group] + 1):
                model.add_hint(done[group][k - first[group]], wave <= k)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = max(1, min(8, os.cpu_count() or 1))
    status = solver.solve(model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        waves = [
            next(k for k in range(first[g], final[g] + 1) if solver.value(moved_by(g, k)))
            for g in range(count)
        ]
        return ExactResult(
            waves=waves,
            optimal=status == cp_model.OPTIMAL,
            infeasible=False,
            bound=max(lower, math.ceil(solver.best_objective_bound - 1e-6)),
        )
    return ExactResult(None, False, status == cp_model.INFEASIBLE, lower)
