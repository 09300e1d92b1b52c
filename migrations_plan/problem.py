"""What the wave planner is asked and what it answers: the problem, a wave's capacity, waves and plans."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from migrations_plan.model import Dependency, LegacySystem, Period, ScopedBlackout


@dataclass(frozen=True)
class WaveCapacity:
    """The most one wave may hold: systems moved, their vcpus, storage and cutover hours (summed)."""

    systems: int
    vcpus: int
    storage_gb: int
    cutover_hours: float

    def __post_init__(self) -> None:
        if self.systems < 1:
            raise ValueError("systems: a wave must hold at least one system")
        for name in ("vcpus", "storage_gb", "cutover_hours"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}: must not be negative")


@dataclass(frozen=True)
class PlanningProblem:
    """Systems to move with their dependencies, the wave calendar, and blackouts: for everyone, or for the
    systems of some departments or tags (and each system's own).

    Wave k (1-based) runs from ``first_wave_starts + (k - 1) * wave_days`` for ``wave_days`` days. A
    system may move in a wave that overlaps none of its blackouts and in which one of its maintenance
    windows opens (any wave if it has none); its cutover starts at such an opening. Every
    dependency must name systems of ``systems``: the caller leaves out edges to systems that do not move
    (retained, retired, already on the cloud).
    """

    systems: tuple[LegacySystem, ...]
    dependencies: tuple[Dependency, ...]
    capacity: WaveCapacity
    first_wave_starts: date
    wave_days: int
    blackouts: tuple[Period, ...] = ()
    max_waves: int | None = None
    scoped_blackouts: tuple[ScopedBlackout, ...] = ()  # for some departments' or tags' systems

    def __post_init__(self) -> None:
        if self.wave_days < 1:
            raise ValueError("wave_days: a wave lasts at least one day")
        if self.max_waves is not None and self.max_waves < 1:
            raise ValueError("max_waves: must be at least 1")

    def wave_period(self, number: int) -> Period:
        starts = self.first_wave_starts + timedelta(days=(number - 1) * self.wave_days)
        return Period(starts, starts + timedelta(days=self.wave_days - 1))


@dataclass(frozen=True)
class Wave:
    number: int  # 1-based; waves that hold nothing (e.g. in a global blackout) are not listed
    starts: date
    ends: date  # inclusive
    systems: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    waves: tuple[Wave, ...]
    method: str  # "cp-sat" or "heuristic": which one produced these waves
    optimal: bool  # the last wave number is proven the smallest possible
    lower_bound: int  # no plan finishes before this wave number
    reasons: dict[str, str] = field(default_factory=dict)  # system code -> why it is in its wave
    # system code -> when its cutover starts: the first opening of one of its maintenance windows in its
    # wave (local wall-clock time); None (or left out) for a system without windows, which may go any time
    cutover_starts: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def last_wave(self) -> int:
        return max((wave.number for wave in self.waves), default=0)

    def wave_of(self) -> dict[str, int]:
        return {code: wave.number for wave in self.waves for code in wave.systems}


class PlanningError(ValueError):
    """No plan is possible (or none was found within the limits); ``problems`` say why, naming systems."""

    def __init__(self, problems: list[str], systems: list[str] | None = None) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.systems = sorted(set(systems or []))
