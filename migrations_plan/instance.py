"""The planning problem as the solvers see it: groups that move together, lagged arcs, blocked wave numbers.

Systems that must share a wave (``same_wave`` pairs, cycles of ``not_after``) are contracted into one group
with their summed demand and the union of their blackouts; the dependency graph between groups is then
acyclic. Blackout dates become ranges of blocked wave numbers, and maintenance windows the places of the
weekly cycle of waves where none of a member's windows opens (``windows``). Cutover hours become integer
thousandths (rounded up for systems, down for the capacity) so the integer solvers never overrun the real
figure.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass

from migrations_plan import windows
from migrations_plan.graph import Arc, arcs_of, dependency_problems, strict_cycles, strong_components
from migrations_plan.model import LegacySystem, Period
from migrations_plan.problem import PlanningError, PlanningProblem
from migrations_plan.windows import WEEK, residue

HOURS_SCALE = 1000
DIMENSIONS = ("systems", "vcpus", "storage_gb", "cutover_hours")


@dataclass(frozen=True)
class Blocked:
    """Wave numbers a group may not use: sorted, disjoint inclusive ranges, each with the blackout that
    blocks it, and places of the weekly cycle of waves (``windows.residue``) where none of its maintenance
    windows opens, each with why (``closed``: seven entries, None where it is open; empty: none closed).
    Reasons are phrases that follow "wave k"."""

    ranges: tuple[tuple[int, int, str], ...]
    closed: tuple[str | None, ...] = ()

    @classmethod
    def of(cls, ranges: list[tuple[int, int, str]], closed: tuple[str | None, ...] = ()) -> Blocked:
        """Disjoint ranges from overlapping ones; each wave keeps the reason of a blackout covering it."""
        disjoint: list[tuple[int, int, str]] = []
        for first, last, why in sorted(ranges):
            if disjoint and first <= disjoint[-1][1]:
                first = disjoint[-1][1] + 1
            if first <= last:
                disjoint.append((first, last, why))
        return cls(tuple(disjoint), closed if any(closed) else ())

    def _covering(self, wave: int) -> tuple[int, int, str] | None:
        position = bisect_right(self.ranges, (wave, math.inf)) - 1
        if position >= 0 and self.ranges[position][1] >= wave:
            return self.ranges[position]
        return None

    def _shut(self, wave: int) -> str | None:
        return self.closed[residue(wave)] if self.closed else None

    def reason(self, wave: int) -> str | None:
        covering = self._covering(wave)
        return covering[2] if covering else self._shut(wave)

    def next_free(self, wave: int) -> int:
        """The first wave number >= ``wave`` not blocked (at most six closed places in a row: see build)."""
        while True:
            covering = self._covering(wave)
            if covering is not None:
                wave = covering[1] + 1
            elif self._shut(wave):
                wave += 1
            else:
                return wave

    def previous_free(self, wave: int) -> int:
        """The last wave number <= ``wave`` not blocked (may be 0 or less: none)."""
        while wave >= 1:
            covering = self._covering(wave)
            if covering is not None:
                wave = covering[0] - 1
            elif self._shut(wave):
                wave -= 1
            else:
                return wave
        return wave

    @property
    def last(self) -> int:
        return self.ranges[-1][1] if self.ranges else 0


def blocked_waves(problem: PlanningProblem, periods: list[tuple[Period, str]]) -> Blocked:
    """The wave numbers whose dates overlap any of ``periods`` (each with its description)."""
    ranges: list[tuple[int, int, str]] = []
    origin, days = problem.first_wave_starts, problem.wave_days
    for period, why in periods:
        if period.ends < origin:
            continue
        first = max(1, (period.starts - origin).days // days + 1)
        last = (period.ends - origin).days // days + 1
        ranges.append((first, last, f"overlaps {why}"))
    return Blocked.of(ranges)


def closed_places(problem: PlanningProblem, members: list[LegacySystem]) -> tuple[str | None, ...]:
    """Per place of the weekly cycle of waves, the members none of whose windows opens there, as a reason."""
    shut: list[list[LegacySystem]] = [[] for _ in range(WEEK)]
    for member in members:
        for place, closed in enumerate(windows.closed_places(problem, member.windows)):
            if closed:
                shut[place].append(member)
    return tuple(
        (
            "opens none of the maintenance windows of "
            + "; ".join(f"{m.code} ({', '.join(str(w) for w in m.windows)})" for m in found)
        )
        if found
        else None
        for found in shut
    )


@dataclass
class Instance:
    problem: PlanningProblem
    codes: list[str]
    groups: list[list[int]]  # system indices per group, in input order
    group_of: list[int]
    demand: list[tuple[int, int, int, int]]  # per group, in DIMENSIONS order (hours scaled)
    capacity: tuple[int, int, int, int]
    preds: list[list[tuple[int, int, int]]]  # per group: (predecessor group, lag, dependency index)
    succs: list[list[tuple[int, int]]]  # per group: (successor group, lag)
    topological: list[int]  # groups, every predecessor before its successors
    blocked: list[Blocked]  # per group: its members' blackouts
    global_blocked: Blocked

    def allowed(self, group: int, wave: int) -> bool:
        return self.global_blocked.reason(wave) is None and self.blocked[group].reason(wave) is None

    def next_allowed(self, group: int, wave: int) -> int:
        while True:
            free = self.blocked[group].next_free(self.global_blocked.next_free(wave))
            if free == wave:
                return wave
            wave = free

    def previous_allowed(self, group: int, wave: int) -> int:
        while True:
            free = self.blocked[group].previous_free(self.global_blocked.previous_free(wave))
            if free == wave:
                return wave
            wave = free


def scaled_hours(hours: float) -> int:
    return math.ceil(round(hours * HOURS_SCALE, 6))


def build(problem: PlanningProblem) -> Instance:
    """Contract groups and check the input; PlanningError for anything that makes planning impossible."""
    systems = problem.systems
    codes = [system.code for system in systems]
    duplicates = sorted(code for code, count in Counter(codes).items() if count > 1)
    if duplicates:
        raise PlanningError([f"system {code} is listed more than once" for code in duplicates], duplicates)
    index = {code: i for i, code in enumerate(codes)}
    arcs: list[Arc] = arcs_of(index, problem.dependencies)
    component = strong_components(len(codes), arcs)
    unknown = any(d.system not in index or d.depends_on not in index for d in problem.dependencies)
    if unknown or strict_cycles(codes, arcs, component):
        issues = dependency_problems(systems, problem.dependencies)
        raise PlanningError(
            [issue.message for issue in issues], [code for issue in issues for code in issue.systems]
        )
    count = max(component, default=-1) + 1
    # Tarjan numbers sinks first: renumber so that group numbers follow a topological order.
    group_of = [count - 1 - c for c in component]
    groups: list[list[int]] = [[] for _ in range(count)]
    for system, group in enumerate(group_of):
        groups[group].append(system)
    preds: list[list[tuple[int, int, int]]] = [[] for _ in range(count)]
    succs: list[list[tuple[int, int]]] = [[] for _ in range(count)]
    for arc in arcs:
        tail, head = group_of[arc.tail], group_of[arc.head]
        if tail != head:
            preds[head].append((tail, arc.lag, arc.dependency))
            succs[tail].append((head, arc.lag))
    capacity = problem.capacity
    cap = (
        capacity.systems,
        capacity.vcpus,
        capacity.storage_gb,
        math.floor(round(capacity.cutover_hours * HOURS_SCALE, 6)),
    )
    demand: list[tuple[int, int, int, int]] = []
    blocked: list[Blocked] = []
    too_big: list[str] = []
    never: list[str] = []
    named: list[str] = []
    for members in groups:
        need = (
            len(members),
            sum(systems[m].vcpus for m in members),
            sum(systems[m].storage_gb for m in members),
            sum(scaled_hours(systems[m].cutover_hours) for m in members),
        )
        demand.append(need)
        over = [
            f"{DIMENSIONS[d]} {shown(d, need[d])} > {shown(d, cap[d])}" for d in range(4) if need[d] > cap[d]
        ]
        if over:
            who = ", ".join(codes[m] for m in members)
            together = f"systems {who}, which move together," if len(members) > 1 else f"system {who}"
            too_big.append(f"{together} exceed one wave's capacity: {'; '.join(over)}")
            named.extend(codes[m] for m in members)
        periods = [(p, f"blackout {p} of {codes[m]}") for m in members for p in systems[m].blackouts]
        periods += [
            (scoped.period, f"blackout {scoped}")
            for scoped in problem.scoped_blackouts
            if any(scoped.applies_to(systems[m]) for m in members)
        ]
        found = blocked_waves(problem, periods)
        closed = closed_places(problem, [systems[m] for m in members])
        if all(closed):
            who = ", ".join(codes[m] for m in members)
            never.append(f"systems {who} move together, but their maintenance windows never open in one wave")
            named.extend(codes[m] for m in members)
        blocked.append(Blocked(found.ranges, closed if any(closed) else ()))
    if too_big or never:
        raise PlanningError(too_big + never, named)
    return Instance(
        problem=problem,
        codes=codes,
        groups=groups,
        group_of=group_of,
        demand=demand,
        capacity=cap,
        preds=preds,
        succs=succs,
        topological=list(range(count)),
        blocked=blocked,
        global_blocked=blocked_waves(problem, [(p, f"global blackout {p}") for p in problem.blackouts]),
    )


def shown(dimension: int, amount: int) -> str:
    return f"{amount / HOURS_SCALE:g}" if DIMENSIONS[dimension] == "cutover_hours" else str(amount)
