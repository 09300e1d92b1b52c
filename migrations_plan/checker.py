"""An independent check of a plan against every constraint of its problem.

Written straight from the problem statement, sharing no code with the planners (no groups, no scaled hours,
no blocked-wave arithmetic), so that a planner bug cannot hide behind the same bug here.
"""

from __future__ import annotations

from datetime import timedelta

from migrations_plan.model import Coupling, LegacySystem, Period
from migrations_plan.problem import Plan, PlanningProblem

HOURS_TOLERANCE = 1e-9  # float sums of cutover hours


def violations(problem: PlanningProblem, plan: Plan) -> list[str]:
    """Every way ``plan`` breaks ``problem``; an empty list means the plan is valid."""
    found: list[str] = []
    systems = {system.code: system for system in problem.systems}
    wave_of: dict[str, int] = {}
    numbers: set[int] = set()
    for wave in plan.waves:
        if wave.number < 1:
            found.append(f"wave {wave.number}: wave numbers start at 1")
        if wave.number in numbers:
            found.append(f"wave {wave.number}: listed twice")
        numbers.add(wave.number)
        if problem.max_waves is not None and wave.number > problem.max_waves:
            found.append(f"wave {wave.number}: beyond max_waves {problem.max_waves}")
        starts = problem.first_wave_starts + timedelta(days=(wave.number - 1) * problem.wave_days)
        ends = starts + timedelta(days=problem.wave_days - 1)
        if (wave.starts, wave.ends) != (starts, ends):
            found.append(f"wave {wave.number}: dated {wave.starts}..{wave.ends}, should be {starts}..{ends}")
        period = Period(starts, ends)
        for code in wave.systems:
            if code not in systems:
                found.append(f"wave {wave.number}: {code} is not a system of the problem")
                continue
            if code in wave_of:
                found.append(f"{code}: in wave {wave_of[code]} and in wave {wave.number}")
            wave_of[code] = wave.number
            for blackout in (*systems[code].blackouts, *problem.blackouts):
                if blackout.overlaps(period):
                    found.append(f"{code}: wave {wave.number} ({period}) overlaps blackout {blackout}")
        found.extend(_over_capacity(problem, wave.number, [systems[c] for c in wave.systems if c in systems]))
    for code in systems:
        if code not in wave_of:
            found.append(f"{code}: in no wave")
    for dep in problem.dependencies:
        if dep.system not in wave_of or dep.depends_on not in wave_of:
            continue
        mine, theirs = wave_of[dep.system], wave_of[dep.depends_on]
        broken = {
            Coupling.same_wave: mine != theirs,
            Coupling.before: theirs >= mine,
            Coupling.not_after: theirs > mine,
        }[dep.coupling]
        if broken:
            found.append(f"{dep}: {dep.system} in wave {mine}, {dep.depends_on} in wave {theirs}")
    last = max(numbers, default=0)
    if plan.lower_bound > last:
        found.append(f"lower bound {plan.lower_bound} above the plan's last wave {last}")
    missing = sorted(set(systems) - set(plan.reasons))
    if missing:
        found.append(f"no reason given for {', '.join(missing)}")
    return found


def _over_capacity(problem: PlanningProblem, number: int, members: list[LegacySystem]) -> list[str]:
    cap = problem.capacity
    totals = {
        "systems": (len(members), cap.systems),
        "vcpus": (sum(s.vcpus for s in members), cap.vcpus),
        "storage_gb": (sum(s.storage_gb for s in members), cap.storage_gb),
    }
    found = [
        f"wave {number}: {what} {used} > capacity {allowed}"
        for what, (used, allowed) in totals.items()
        if used > allowed
    ]
    hours = sum(s.cutover_hours for s in members)
    if hours > cap.cutover_hours + HOURS_TOLERANCE:
        found.append(f"wave {number}: cutover_hours {hours:g} > capacity {cap.cutover_hours:g}")
    return found
