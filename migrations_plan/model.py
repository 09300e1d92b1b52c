"""The migration domain's vocabulary: legacy systems, their dependencies, target zones, date periods.

Plain frozen dataclasses that validate themselves on construction (a ``ValueError`` naming the field), so the
planner and the assessment rules can trust what they get. The control plane maps its rows onto these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum

MLPS_LEVELS = range(1, 5)  # 等级保护 levels the cloud's zones are certified for (as in cloudsvc's zones)


class Strategy(StrEnum):
    """The 7 Rs: how a system moves (or does not)."""

    rehost = "rehost"  # lift and shift the VMs as they are
    replatform = "replatform"  # move with small changes (managed database, containers, a supported OS)
    refactor = "refactor"  # rebuild for the cloud
    repurchase = "repurchase"  # replace by a product or a shared platform service
    relocate = "relocate"  # move at hypervisor level, without touching the guests
    retain = "retain"  # stays where it is, for now
    retire = "retire"  # switched off


class Coupling(StrEnum):
    """How a dependency constrains the waves of the system and the system it depends on."""

    same_wave = "same_wave"  # tightly coupled: move together, in the same wave
    before = "before"  # the dependency moves in a strictly earlier wave
    not_after = "not_after"  # the dependency moves no later than its dependant (same wave allowed)


class Criticality(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class Network(StrEnum):
    intranet = "intranet"  # 电子政务内网: the only place for classified systems
    extranet = "extranet"  # 电子政务外网


@dataclass(frozen=True)
class Period:
    """A span of days, both ends included (e.g. tax season, a freeze before a holiday)."""

    starts: date
    ends: date
    label: str = ""

    def __post_init__(self) -> None:
        if self.ends < self.starts:
            raise ValueError(f"ends: period ends {self.ends} before it starts {self.starts}")

    def overlaps(self, other: Period) -> bool:
        return self.starts <= other.ends and other.starts <= self.ends

    def __str__(self) -> str:
        span = f"{self.starts.isoformat()}..{self.ends.isoformat()}"
        return f"{self.label} ({span})" if self.label else span


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order


@dataclass(frozen=True)
class MaintenanceWindow:
    """A weekly window in which the system may be taken down: it opens on ``weekday`` (0 = Monday, as
    ``date.weekday()``) at ``opens`` and closes at ``closes``, the next day when that is not later (so
    "sat 22:00-06:00" runs into Sunday, and equal times mean a whole day). A cutover starts at an opening."""

    weekday: int
    opens: time
    closes: time

    def __post_init__(self) -> None:
        if self.weekday not in range(7):
            raise ValueError(f"weekday: {self.weekday} is not a day from 0 (Monday) to 6 (Sunday)")

    @property
    def hours(self) -> float:
        start = self.opens.hour * 60 + self.opens.minute
        end = self.closes.hour * 60 + self.closes.minute
        return ((end - start) % (24 * 60) or 24 * 60) / 60

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.opens:%H:%M}-{self.closes:%H:%M}"


@dataclass(frozen=True)
class LegacySystem:
    """A system to move: who owns it, how sensitive it is, what it needs, when it may not be touched."""

    code: str
    department_code: str
    classified: bool  # 涉密
    mlps_level: int
    vcpus: int
    ram_mb: int
    storage_gb: int
    bandwidth_mbps: int
    criticality: str  # a Criticality value; plain strings are accepted and normalised
    cutover_hours: float
    blackouts: tuple[Period, ...] = ()
    strategy: Strategy | None = None  # set by the operator; None = not decided yet
    tags: tuple[str, ...] = ()  # free labels the assessment rules read (e.g. "end-of-life", "saas-available")
    name: str = ""
    windows: tuple[MaintenanceWindow, ...] = ()  # when its cutover may start; none = at any time

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("code: must not be empty")
        if self.mlps_level not in MLPS_LEVELS:
            raise ValueError(f"mlps_level: {self.mlps_level} is not a level from 1 to 4")
        for name in ("vcpus", "ram_mb", "storage_gb", "bandwidth_mbps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative")
        if not self.cutover_hours >= 0:  # also refuses NaN
            raise ValueError("cutover_hours: must not be negative")
        try:
            object.__setattr__(self, "criticality", Criticality(self.criticality))
        except ValueError:
            raise ValueError(
                f"criticality: {self.criticality!r} is not one of {', '.join(Criticality)}"
            ) from None
        if self.strategy is not None:
            object.__setattr__(self, "strategy", Strategy(self.strategy))


@dataclass(frozen=True)
class ScopedBlackout:
    """A blackout for some systems only: those of the departments named, or carrying one of the tags (tax
    season for the finance bureau's systems and for every system tagged ``tax``). Tags match in any case."""

    period: Period
    departments: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.departments and not self.tags:
            raise ValueError("departments: a scoped blackout names departments or tags (or it is global)")
        object.__setattr__(self, "departments", frozenset(self.departments))
        object.__setattr__(self, "tags", frozenset(tag.lower() for tag in self.tags))

    def applies_to(self, system: LegacySystem) -> bool:
        return system.department_code in self.departments or any(
            tag.lower() in self.tags for tag in system.tags
        )

    def __str__(self) -> str:
        scope = [
            *(f"department {code}" for code in sorted(self.departments)),
            *(f"tag {tag}" for tag in sorted(self.tags)),
        ]
        return f"{self.period} for {', '.join(scope)}"


@dataclass(frozen=True)
class Dependency:
    """``system`` depends on ``depends_on``; ``coupling`` says how their waves relate."""

    system: str
    depends_on: str
    coupling: Coupling = Coupling.not_after

    def __post_init__(self) -> None:
        object.__setattr__(self, "coupling", Coupling(self.coupling))

    def __str__(self) -> str:
        return f"{self.system} -[{self.coupling}]-> {self.depends_on}"


@dataclass(frozen=True)
class ZoneInfo:
    """A target zone as the assessment sees it; free capacity None = unknown (not checked)."""

    name: str
    network: str  # a Network value
    mlps_level: int
    free_vcpus: int | None = None
    free_ram_mb: int | None = None
    free_storage_gb: int | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "network", Network(self.network))
        except ValueError:
            raise ValueError(f"network: {self.network!r} is not one of {', '.join(Network)}") from None
