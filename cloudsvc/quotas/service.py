"""Quota admission, settlement, limits and views, over the counters and the ledger.

Locks are always taken in one order: a request's row, then counters rows sorted by department id
descending, then the audit chain head, so no two transactions can wait on each other in a cycle. Ancestors
have smaller ids than their descendants, so counters are locked leaf first and the province last.

The province and the cities have their counters in several rows (stripes, see migration 0008): on
PostgreSQL an admission takes one free stripe per department that has room (never waiting for a held one)
or, when none has, waits for all of that department's stripes in stripe order and shares its room out
again. A transaction holding one stripe of a department never waits for another of the same department,
so stripes add no cycle. Each department's figures are the sums over its stripes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, case, cast, func, insert, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.audit.service import Actor
from cloudsvc.db import UTCDateTime, utcnow
from cloudsvc.departments.models import Department
from cloudsvc.errors import Forbidden, InvalidInput, QuotaExceeded
from cloudsvc.principals.authz import Caller, Permission
from cloudsvc.quotas.models import Field, column_name, quota_counters, quota_ledger, share_column
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

_c = quota_counters.c

# Stripes of a new department's counters, by level: the levels that the admissions of many departments
# below pass through. Others have one. (SQLite has one writer at a time: one stripe everywhere.)
STRIPES: dict[str, int] = {"province": 16, "city": 4}


def _delta(cls: QuotaClass, field: Field) -> str:
    return f"d_{column_name(cls, field)}"


# One statement for all the chain's rows of a movement, sent as an executemany (a single pipeline with
# psycopg 3): a round trip per movement, not per row. Classes the movement leaves alone get a delta of 0.
_bump = (
    update(quota_counters)
    .where(_c.department_id == bindparam("d_id"))
    .values(
        {
            column_name(cls, field): _c[column_name(cls, field)] + bindparam(_delta(cls, field))
            for cls in CLASSES
            for field in (Field.in_use, Field.reserved)
        }
    )
)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def stripes_for(session: Session, level: str) -> int:
    return STRIPES.get(str(level), 1) if _postgres(session) else 1


def open_counters(session: Session, department_id: int, level: str) -> None:
    """The counters rows of a new department: no limits, nothing used."""
    stripes = range(stripes_for(session, level))
    session.execute(insert(quota_counters), [{"department_id": department_id, "stripe": s} for s in stripes])


def totals() -> Select[Any]:
    """Each department's limits (every stripe has them) and usage (summed over its stripes), labelled like
    the columns."""
    figures = [
        (
            func.max(_c[column_name(cls, field)])
            if field == Field.limit
            else cast(func.sum(_c[column_name(cls, field)]), BigInteger)
        ).label(column_name(cls, field))
        for cls in CLASSES
        for field in Field
    ]
    return select(_c.department_id, *figures).group_by(_c.department_id)


def _usage(row: RowMapping) -> dict[QuotaClass, Usage]:
    return {
        cls: Usage(
            row[column_name(cls, Field.limit)],
            row[column_name(cls, Field.in_use)],
            row[column_name(cls, Field.reserved)],
        )
        for cls in CLASSES
    }


def usage_by_department(
    session: Session, department_ids: Sequence[int] | None = None
) -> dict[int, dict[QuotaClass, Usage]]:
    """Limits and usage per class of ``department_ids`` (default: all) as they stand, without locking."""
    query = totals()
    if department_ids is not None:
        query = query.where(_c.department_id.in_(department_ids))
    return {row["department_id"]: _usage(row) for row in session.execute(query).mappings()}


def _chain(session: Session, departments: Sequence[Department]) -> Chain:
    """Counters of ``departments`` as they stand, without locking them (locks are reserve's business)."""
    usage = usage_by_department(session, [d.id for d in departments])
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
    deltas = {_delta(cls, field): 0 for cls in CLASSES for field in (Field.in_use, Field.reserved)}
    for cls, amount in demand.items():
        deltas[_delta(cls, Field.in_use)], deltas[_delta(cls, Field.reserved)] = effect(movement, amount)
    if any(deltas.values()):
        session.connection().execute(
            _bump, [{"d_id": department_id, **deltas} for department_id in sorted(chain_ids, reverse=True)]
        )


def _record(
    session: Session, request_id: str, department_id: int, demand: Demand, movement: Movement
) -> None:
    if any(demand.values()):
        session.execute(
            insert(quota_ledger).values(
                request_id=request_id,
                department_id=department_id,
                movement=movement.value,
                **{cls.value: demand.get(cls, 0) for cls in CLASSES},
            )
        )


def check(session: Session, chain: Sequence[Department], demand: Demand) -> list[Shortfall]:
    """Where ``demand`` would not fit on ``chain`` now (no locks: an answer, not a reservation)."""
    return shortfalls(_chain(session, chain), demand)


# The functions of migrations 0008 and 0013: the chain (leaf first) and per-class arrays in CLASSES order.
_RESERVE_POSTGRES = text(
    "SELECT cloudsvc_quota_reserve(CAST(:chain AS integer[]), CAST(:need AS bigint[]), "
    ":request_id, :requester, :at)"
).bindparams(bindparam("at", type_=UTCDateTime()))
_SETTLE_POSTGRES = text(
    "SELECT cloudsvc_quota_settle(CAST(:chain AS integer[]), CAST(:in_use AS bigint[]), "
    "CAST(:reserved AS bigint[]))"
)
_SHARE_POSTGRES = text(
    "SELECT cloudsvc_quota_share(:department_id, CAST(:limits AS bigint[]), 0, CAST(:need AS bigint[]))"
)


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
    if _postgres(session):
        # Server-side, in one round trip: no hot row stays locked across a trip to the client and back.
        short_ids: list[int] = session.execute(
            _RESERVE_POSTGRES,
            {
                "chain": sorted(chain_ids, reverse=True),
                "need": [demand.get(cls, 0) for cls in CLASSES],
                "request_id": request_id,
                "requester": department.id,
                "at": utcnow(),
            },
        ).scalar_one()
        if not short_ids:
            return
        chain = _departments(session, chain_ids)
        usage = usage_by_department(session, short_ids)  # locked by the attempt: as it judged them
        short = shortfalls([(d.code, usage[d.id]) for d in chain if d.id in usage], demand)
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


def share_out(session: Session, department_id: int, limits: Mapping[QuotaClass, int | None]) -> None:
    """Set the department's limits (classes absent from ``limits`` keep theirs) and share each out over
    its stripes afresh."""
    if not _postgres(session):  # one stripe: its share is the limit
        if limits:
            session.execute(
                update(quota_counters)
                .where(_c.department_id == department_id)
                .values(
                    {
                        name: limit
                        for cls, limit in limits.items()
                        for name in (column_name(cls, Field.limit), share_column(cls))
                    }
                )
            )
        return
    locking = select(_c.stripe).where(_c.department_id == department_id).order_by(_c.stripe)
    session.execute(locking.with_for_update()).all()  # every stripe, in stripe order
    current = usage_by_department(session, [department_id])[department_id]
    session.execute(
        _SHARE_POSTGRES,
        {
            "department_id": department_id,
            "limits": [limits[cls] if cls in limits else current[cls].limit for cls in CLASSES],
            "need": [0] * len(CLASSES),
        },
    )


def put_usage(session: Session, department_id: int, figures: Mapping[str, int]) -> None:
    """Set the department's in_use / reserved columns named in ``figures`` to these totals (a repair)."""
    session.execute(
        update(quota_counters)
        .where(_c.department_id == department_id)
        .values({name: case((_c.stripe == 0, value), else_=0) for name, value in figures.items()})
    )
    share_out(session, department_id, {})


def _departments(session: Session, ids: Sequence[int]) -> list[Department]:
    found = {d.id: d for d in session.scalars(select(Department).where(Department.id.in_(ids)))}
    return [found[i] for i in ids]


def settle(
    session: Session, *, request_id: str, chain_ids: Sequence[int], demand: Demand, movement: Movement
) -> None:
    """Apply a movement that never grows usage (activate, release, free): no limit to check."""
    if _postgres(session):
        deltas = [effect(movement, demand.get(cls, 0)) for cls in CLASSES]
        if any(in_use or reserved for in_use, reserved in deltas):
            session.execute(
                _SETTLE_POSTGRES,
                {
                    "chain": sorted(chain_ids, reverse=True),
                    "in_use": [in_use for in_use, _ in deltas],
                    "reserved": [reserved for _, reserved in deltas],
                },
            )
    else:
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
    usage_chain = _chain(session, chain)
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
        (code, {cls: u.limit for cls, u in usage.items()}) for code, usage in _chain(session, chain[:-1])
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
    if limits:
        share_out(session, department.id, limits)
    audit.record(
        session,
        actor=actor,
        action="quota.set_limits",
        target_type="department",
        target_id=department.code,
        detail={"limits": {cls.value: limit for cls, limit in limits.items()}},
    )
