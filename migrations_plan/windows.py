"""Maintenance windows in wave numbers: in which waves a system's cutover can start, and when it starts.

A wave of ``wave_days`` days holds the weekdays from its first day's on. Wave k's first day falls
``(k - 1) * wave_days`` days after the first wave's, so its weekdays repeat every week of waves: they depend
on ``(k - 1) % 7`` alone (and are all seven when waves last a multiple of a week, or longer than six days).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from migrations_plan.model import MaintenanceWindow, Period
from migrations_plan.problem import PlanningProblem

WEEK = 7


def residue(wave: int) -> int:
    """The wave's place in the weekly cycle of waves."""
    return (wave - 1) % WEEK


def weekdays(problem: PlanningProblem, place: int) -> frozenset[int]:
    """The weekdays in the waves at ``place`` of the cycle."""
    first = (problem.first_wave_starts.weekday() + place * problem.wave_days) % WEEK
    return frozenset((first + day) % WEEK for day in range(min(problem.wave_days, WEEK)))


def closed_places(problem: PlanningProblem, windows: Sequence[MaintenanceWindow]) -> list[bool]:
    """Per place of the cycle, whether no window opens in its waves; all False for a system without any."""
    if not windows:
        return [False] * WEEK
    opening = {window.weekday for window in windows}
    return [not opening & weekdays(problem, place) for place in range(WEEK)]


def first_opening(period: Period, windows: Sequence[MaintenanceWindow]) -> datetime | None:
    """The first opening of one of ``windows`` within ``period`` (None when none opens there)."""
    day = period.starts
    while day <= period.ends:
        times = sorted(w.opens for w in windows if w.weekday == day.weekday())
        if times:
            return datetime.combine(day, times[0])
        day += timedelta(days=1)
    return None
