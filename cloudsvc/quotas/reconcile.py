"""Recompute every counter from the ledger, report drift, and optionally repair it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from cloudsvc.departments.models import Department
from cloudsvc.quotas import service as quotas
from cloudsvc.quotas.models import Field, column_name, quota_ledger
from quotas.arithmetic import Movement, held
from quotas.demand import QuotaClass

Key = tuple[int, str]  # (department id, quota class)


@dataclass(frozen=True)
class Drift:
    department_code: str
    quota_class: str
    counter_in_use: int
    counter_reserved: int
    ledger_in_use: int
    ledger_reserved: int


def from_ledger(session: Session) -> dict[Key, tuple[int, int]]:
    """(in_use, reserved) per department and class, rolled up the tree, as the ledger says they must be."""
    ledger = quota_ledger.c
    totals = session.execute(
        select(
            ledger.department_id, ledger.movement, *(func.sum(ledger[cls.value]) for cls in QuotaClass)
        ).group_by(ledger.department_id, ledger.movement)
    )
    movements: dict[Key, list[tuple[Movement, int]]] = defaultdict(list)
    for department_id, movement, *amounts in totals:
        for quota_class, amount in zip(QuotaClass, amounts, strict=True):
            movements[department_id, quota_class.value].append((Movement(movement), int(amount)))
    paths = dict(session.execute(select(Department.id, Department.path)).all())
    rolled: dict[Key, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for (department_id, cls), moves in movements.items():
        in_use, reserved = held(moves)
        for ancestor in (int(part) for part in paths[department_id].strip("/").split("/")):
            was = rolled[ancestor, cls]
            rolled[ancestor, cls] = (was[0] + in_use, was[1] + reserved)
    return rolled


def check(session: Session, *, repair: bool = False) -> list[Drift]:
    """Counters that disagree with the ledger; with ``repair``, set them to the ledger's values.

    Run it in its own transaction. On PostgreSQL it first takes a lock that admissions wait on, so the
    ledger and the counters are read at one consistent moment (and repaired before anyone moves on).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE quota_counters IN SHARE ROW EXCLUSIVE MODE"))
    expected = from_ledger(session)
    codes = dict(session.execute(select(Department.id, Department.code)).all())
    drifts = []
    for department_id, usage in sorted(quotas.usage_by_department(session).items()):
        repaired: dict[str, int] = {}
        for cls in QuotaClass:
            counter = usage[cls]
            in_use, reserved = expected.get((department_id, cls.value), (0, 0))
            if (counter.in_use, counter.reserved) != (in_use, reserved):
                drifts.append(
                    Drift(codes[department_id], cls.value, counter.in_use, counter.reserved, in_use, reserved)
                )
                repaired[column_name(cls, Field.in_use)] = in_use
                repaired[column_name(cls, Field.reserved)] = reserved
        if repair and repaired:
            quotas.put_usage(session, department_id, repaired)
    return drifts
