"""Quota admission, settlement, limits and views, over the counters and the ledger.

Locks are always taken in one order: a request's row, then counter rows sorted by department id descending
and class, then the audit chain head, so no two transactions can wait on each other in a cycle. Ancestors
have smaller ids than their descendants, so counters are locked leaf first and the province last: the
hottest rows, which every admission touches, are held for the shortest time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.audit.service import Actor
from cloudsvc.db import UTCDateTime, utcnow
from cloudsvc.departments.models import Department
from cloudsvc.errors import Forbidden, InvalidInput, QuotaExceeded
from cloudsvc.principals.authz import Caller, Permission
from cloudsvc.quotas.models import QuotaCounter, QuotaLedgerEntry
from quotas.arithmetic import (
    Chain,
    Movement,
    Shortfall,
    Usage,
    effect,
    headroom,
    limit_violations,
    shortfalls,
)
from quotas.demand import Demand, QuotaClass

CLASSES: tuple[QuotaClass, ...] = tuple(QuotaClass)

_counters = QuotaCounter.__table__
# One statement for all (department, class) rows of a movement, sent as an executemany (a single pipeline
# with psycopg 3): a round trip per admission, not per row.
_bump = (
    update(QuotaCounter.__table__)  # type: ignore[arg-type]  # a Table, typed as FromClause by the ORM
    .where(_counters.c.department_id == bindparam("d_id"), _counters.c.quota_class == bindparam("cls"))
    .values(
        in_use=_counters.c.in_use + bindparam("d_in_use"),
        reserved=_counters.c.reserved + bindparam("d_reserved"),
    )
)


def open_counters(session: Session, department_id: int) -> None:
    """Counter rows for a new department: no limit, nothing used."""
    session.execute(
        insert(QuotaCounter),
        [
            {
                "department_id": department_id,
                "quota_class": c.value,
                "quota_limit": None,
                "in_use": 0,
                "reserved": 0,
            }
            for c in CLASSES
        ],
    )


def _chain(session: Session, departments: Sequence[Department], classes: Sequence[QuotaClass]) -> Chain:
    """Counters of ``departments`` as they stand, without locking them (locks are reserve's business)."""
    ids = [d.id for d in departments]
    query = (
        select(QuotaCounter)
        .where(QuotaCounter.department_id.in_(ids), QuotaCounter.quota_class.in_([c.value for c in classes]))
        .execution_options(populate_existing=True)
    )
    usage: dict[int, dict[QuotaClass, Usage]] = {i: {} for i in ids}
    for row in session.scalars(query):
        usage[row.department_id][QuotaClass(row.quota_class)] = Usage(
            row.quota_limit, row.in_use, row.reserved
        )
    return [(d.code, usage[d.id]) for d in departments]


def _shortfall_json(short: Shortfall) -> dict[str, Any]:
    return {
        "department_code": short.department,
        "quota_class": short.quota_class.value,
        "requested": short.requested,
        "limit": short.limit,
        "in_use": short.in_use,
        "reserved": short.reserved,
        "available": short.available,
        "short_by": short.short_by,
    }


def _move(session: Session, chain_ids: Sequence[int], demand: Demand, movement: Movement) -> None:
    params = []
    for department_id in sorted(chain_ids, reverse=True):
        for cls in sorted(demand):
            if demand[cls]:
                d_in_use, d_reserved = effect(movement, demand[cls])
                params.append(
                    {"d_id": department_id, "cls": cls.value, "d_in_use": d_in_use, "d_reserved": d_reserved}
                )
    if params:
        session.connection().execute(_bump, params)


def _record(
    session: Session, request_id: str, department_id: int, demand: Demand, movement: Movement
) -> None:
    entries = [
        {
            "request_id": request_id,
            "department_id": department_id,
            "quota_class": cls.value,
            "movement": movement.value,
            "amount": amount,
        }
        for cls, amount in sorted(demand.items())
        if amount
    ]
    if entries:
        session.execute(insert(QuotaLedgerEntry), entries)


def check(session: Session, chain: Sequence[Department], demand: Demand) -> list[Shortfall]:
    """Where ``demand`` would not fit on ``chain`` now (no locks: an answer, not a reservation)."""
    return shortfalls(_chain(session, chain, list(demand)), demand)


# Lock the chain's rows in the one order (leaf first), check each, and only if all fit bump them and write
# the ledger: one statement, so the province's rows stay locked for part of a round trip plus the commit.
_RESERVE_POSTGRES = text(
    """
    WITH wanted (department_id, quota_class, amount) AS (
        SELECT d, c, a FROM unnest(CAST(:ids AS integer[])) AS d,
                            unnest(CAST(:classes AS varchar[]), CAST(:amounts AS bigint[])) AS x (c, a)
    ),
    locked AS (
        SELECT q.department_id, q.quota_class, q.quota_limit, q.in_use, q.reserved, w.amount
        FROM quota_counters q
        JOIN wanted w ON q.department_id = w.department_id AND q.quota_class = w.quota_class
        ORDER BY q.department_id DESC, q.quota_class
        FOR UPDATE OF q
    ),
    short AS (
        SELECT * FROM locked WHERE quota_limit IS NOT NULL AND in_use + reserved + amount > quota_limit
    ),
    bumped AS (
        UPDATE quota_counters q SET reserved = q.reserved + l.amount
        FROM locked l
        WHERE q.department_id = l.department_id AND q.quota_class = l.quota_class
          AND NOT EXISTS (SELECT 1 FROM short)
    ),
    ledger AS (
        INSERT INTO quota_ledger (request_id, department_id, quota_class, movement, amount, at)
        SELECT :request_id, :requester, c, 'reserve', a, :at
        FROM unnest(CAST(:classes AS varchar[]), CAST(:amounts AS bigint[])) AS x (c, a)
        WHERE NOT EXISTS (SELECT 1 FROM short)
    )
    SELECT department_id, quota_class, quota_limit, in_use, reserved, amount FROM short
    """
).bindparams(bindparam("at", type_=UTCDateTime()))


def reserve(session: Session, *, request_id: str, department: Department, demand: Demand) -> None:
    """Reserve ``demand`` on the department and every ancestor, or raise QuotaExceeded naming every
    department and class that lacks room.

    Call it as late as possible in the transaction, just before the audit append: from here until the
    commit the chain's counter rows, the province's included, are locked.
    """
    demand = {cls: amount for cls, amount in sorted(demand.items()) if amount}
    if not demand:
        return
    chain_ids = department.ancestor_ids()
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            _RESERVE_POSTGRES,
            {
                "ids": chain_ids,
                "classes": [c.value for c in demand],
                "amounts": list(demand.values()),
                "request_id": request_id,
                "requester": department.id,
                "at": utcnow(),
            },
        ).all()
        if not rows:
            return
        chain = _departments(session, chain_ids)
        codes = {d.id: d.code for d in chain}
        short = [
            Shortfall(
                codes[r.department_id],
                QuotaClass(r.quota_class),
                r.amount,
                r.quota_limit,
                r.in_use,
                r.reserved,
            )
            for r in rows
        ]
    else:  # SQLite: the writer holds the database lock already; read, check, then write.
        chain = _departments(session, chain_ids)
        short = check(session, chain, demand)
        if not short:
            _move(session, chain_ids, demand, Movement.reserve)
            _record(session, request_id, department.id, demand, Movement.reserve)
            return
    depth = {d.code: i for i, d in enumerate(chain)}  # reported root first, like the chain
    worst = max(short, key=lambda s: s.short_by)
    raise QuotaExceeded(
        f"{worst.department} is short of {worst.short_by} {worst.quota_class} "
        f"(limit {worst.limit}, in use {worst.in_use}, reserved {worst.reserved}, "
        f"requested {worst.requested})",
        shortfalls=[
            _shortfall_json(s) for s in sorted(short, key=lambda s: (depth[s.department], s.quota_class))
        ],
    )


def _departments(session: Session, ids: Sequence[int]) -> list[Department]:
    found = {d.id: d for d in session.scalars(select(Department).where(Department.id.in_(ids)))}
    return [found[i] for i in ids]


def settle(
    session: Session, *, request_id: str, chain_ids: Sequence[int], demand: Demand, movement: Movement
) -> None:
    """Apply a movement that never grows usage (activate, release, free): no limit to check."""
    _move(session, chain_ids, demand, movement)
    _record(session, request_id, chain_ids[-1], demand, movement)


@dataclass(frozen=True)
class ClassView:
    quota_class: QuotaClass
    limit: int | None
    in_use: int
    reserved: int
    available: int | None
    headroom: int | None
    headroom_department: str | None


def view(session: Session, chain: Sequence[Department]) -> list[ClassView]:
    """The last department of ``chain``: its own counters, and the tightest room anywhere above it."""
    usage_chain = _chain(session, chain, CLASSES)
    own = usage_chain[-1][1]
    views = []
    for cls in CLASSES:
        mine = own[cls]
        room, where = headroom(usage_chain, cls)
        views.append(ClassView(cls, mine.limit, mine.in_use, mine.reserved, mine.available, room, where))
    return views


def set_limits(
    session: Session, caller: Caller, chain: Sequence[Department], limits: Mapping[QuotaClass, int | None]
) -> None:
    """Set (or, with None, unset) limits of the last department of ``chain``; limits come from above."""
    department, ancestors = chain[-1], chain[:-1]
    if ancestors:
        parent = ancestors[-1]
        if not caller.may(Permission.quota_manage, parent.path):
            raise Forbidden(
                f"limits of {department.code} are set by an administrator of {parent.code} or above"
            )
    elif not caller.may_globally(Permission.quota_manage):
        raise Forbidden("the root's limits are set by a cloud-wide system administrator")
    apply_limits(session, caller.actor, chain, limits)


def check_limits(
    session: Session, chain: Sequence[Department], limits: Mapping[QuotaClass, int | None], *, field: str
) -> None:
    """Refuse a limit above any ancestor's, naming the class (under ``field``) and the ancestor."""
    ancestor_limits = [
        (code, {cls: u.limit for cls, u in usage.items()})
        for code, usage in _chain(session, chain[:-1], list(limits))
    ]
    for cls, ancestor, ancestor_limit in limit_violations(ancestor_limits, limits):
        raise InvalidInput(
            f"{cls} limit {limits[cls]} exceeds the limit of {ancestor} ({ancestor_limit})",
            field=f"{field}.{cls.value}",
            parent_code=ancestor,
        )


def apply_limits(
    session: Session, actor: Actor, chain: Sequence[Department], limits: Mapping[QuotaClass, int | None]
) -> None:
    """Set limits of the last department of ``chain`` once whoever decides has decided."""
    department = chain[-1]
    check_limits(session, chain, limits, field="limits")
    for cls, limit in sorted(limits.items()):
        session.execute(
            update(QuotaCounter)
            .where(QuotaCounter.department_id == department.id, QuotaCounter.quota_class == cls.value)
            .values(quota_limit=limit)
        )
    audit.record(
        session,
        actor=actor,
        action="quota.set_limits",
        target_type="department",
        target_id=department.code,
        detail={"limits": {cls.value: limit for cls, limit in limits.items()}},
    )
