"""Quota arithmetic over a department's ancestor chain. Pure functions: no database, no HTTP.

Every department's counters include its whole subtree ("rolled up"), so a demand fits when, for each
class it touches, every department on the chain from the root down to the requester has room:
``in_use + reserved + demand <= limit`` wherever a limit is set.

A request's quota moves through four movements, each recorded in the ledger:

    reserve  (+reserved)            at submission
    activate (reserved → in_use)    when its resources become active
    release  (−reserved)            when it ends before becoming active (rejected, cancelled, failed)
    free     (−in_use)              when its active resources go away (decommissioned, or failed later)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from quotas.demand import Demand, QuotaClass


@dataclass(frozen=True)
class Usage:
    limit: int | None  # None: no limit of its own (the ancestors' still apply)
    in_use: int = 0
    reserved: int = 0

    @property
    def available(self) -> int | None:
        return None if self.limit is None else self.limit - self.in_use - self.reserved


@dataclass(frozen=True)
class Shortfall:
    department: str
    quota_class: QuotaClass
    requested: int
    limit: int
    in_use: int
    reserved: int

    @property
    def available(self) -> int:
        return max(self.limit - self.in_use - self.reserved, 0)

    @property
    def short_by(self) -> int:
        return self.requested - self.available


# Root first; each entry is (department code, its rolled-up usage per class).
Chain = Sequence[tuple[str, Mapping[QuotaClass, Usage]]]


def shortfalls(chain: Chain, demand: Demand) -> list[Shortfall]:
    """Every (department, class) on the chain where ``demand`` does not fit; empty when it fits."""
    short = []
    for department, usage in chain:
        for cls, amount in demand.items():
            u = usage.get(cls, Usage(limit=None))
            if amount > 0 and u.limit is not None and u.in_use + u.reserved + amount > u.limit:
                short.append(Shortfall(department, cls, amount, u.limit, u.in_use, u.reserved))
    return short


def headroom(chain: Chain, cls: QuotaClass) -> tuple[int | None, str | None]:
    """The least room for ``cls`` anywhere on the chain and the department that has it (None: unlimited)."""
    best: tuple[int | None, str | None] = (None, None)
    for department, usage in chain:
        available = usage.get(cls, Usage(limit=None)).available
        if available is not None and (best[0] is None or available < best[0]):
            best = (available, department)
    return best


class Movement(StrEnum):
    reserve = "reserve"
    activate = "activate"
    release = "release"
    free = "free"


def effect(movement: Movement, amount: int) -> tuple[int, int]:
    """(change to in_use, change to reserved) for one movement of ``amount``."""
    return {
        Movement.reserve: (0, amount),
        Movement.activate: (amount, -amount),
        Movement.release: (0, -amount),
        Movement.free: (-amount, 0),
    }[movement]


def held(movements: Sequence[tuple[Movement, int]]) -> tuple[int, int]:
    """(in_use, reserved) that a sequence of movements leaves behind: how the ledger recomputes counters."""
    in_use = reserved = 0
    for movement, amount in movements:
        d_in_use, d_reserved = effect(movement, amount)
        in_use, reserved = in_use + d_in_use, reserved + d_reserved
    return in_use, reserved


def limit_violations(
    ancestors: Sequence[tuple[str, Mapping[QuotaClass, int | None]]],
    new_limits: Mapping[QuotaClass, int | None],
) -> list[tuple[QuotaClass, str, int]]:
    """Classes where a new limit would exceed an ancestor's: (class, tightest ancestor, its limit)."""
    violations = []
    for cls, limit in new_limits.items():
        if limit is None:
            continue
        tightest: tuple[str, int] | None = None
        for department, limits in ancestors:
            ancestor_limit = limits.get(cls)
            if ancestor_limit is not None and (tightest is None or ancestor_limit < tightest[1]):
                tightest = (department, ancestor_limit)
        if tightest is not None and limit > tightest[1]:
            violations.append((cls, tightest[0], tightest[1]))
    return violations
