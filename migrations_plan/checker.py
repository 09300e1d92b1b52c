"""An independent check of a plan against every constraint of its problem.

Written straight from the problem statement, sharing no code with the planners (no groups, no scaled hours,
no blocked-wave arithmetic, no weekly cycle of waves), so that a planner bug cannot hide behind the same
bug here. Scoped blackouts are matched here by their fields, not by ``ScopedBlackout.applies_to``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

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
            system = systems[code]
            scoped = [
                b.period
                for b in problem.scoped_blackouts
                if system.department_code in b.departments or {t.lower() for t in system.tags} & b.tags
            ]
            for blackout in (*system.blackouts, *problem.blackouts, *scoped):
                if blackout.overlaps(period):
                    found.append(f"{code}: wave {wave.number} ({period}) overlaps blackout {blackout}")
            found.extend(_cutover_start(system, period, plan.cutover_starts.get(code)))
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
    strangers = sorted(set(plan.cutover_starts) - set(systems))
    if strangers:
        found.append(f"cutover starts given for {', '.join(strangers)}, not systems of the problem")
    return found


def _cutover_start(system: LegacySystem, wave: Period, start: datetime | None) -> list[str]:
    """A system with maintenance windows starts its cutover in its wave, when one of them opens."""
    if start is None:
        if system.windows:
            shown = ", ".join(str(w) for w in system.windows)
            return [f"{system.code}: no cutover start given, its maintenance windows are {shown}"]
        return []
    problems = []
    if not wave.starts <= start.date() <= wave.ends:
        problems.append(f"{system.code}: cutover starts {start:%Y-%m-%d %H:%M}, outside its wave ({wave})")
    openings = {(w.weekday, w.opens) for w in system.windows}
    if system.windows and (start.weekday(), start.time()) not in openings:
        shown = ", ".join(str(w) for w in system.windows)
        problems.append(
            f"{system.code}: cutover starts {start:%a %Y-%m-%d %H:%M}, not when one of its maintenance "
            f"windows opens ({shown})"
        )
    return problems


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
