"""Quota admission, settlement, limits and views, over the counters and the ledger.

Locks are always taken in one order: a request's row, then counters rows (one per department) sorted by
department id descending, then the audit chain head, so no two transactions can wait on each other in a
cycle. Ancestors have smaller ids than their descendants, so counters are locked leaf first and the
province last: the hottest row, which every admission touches, is held for the shortest time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, bindparam, delete, insert, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.audit.service import Actor
from cloudsvc.db import UTCDateTime, utcnow
from cloudsvc.departments.models import Department
from cloudsvc.errors import Forbidden, InvalidInput, QuotaExceeded
from cloudsvc.principals.authz import Caller, Permission
from cloudsvc.quotas.models import Field, QuotaLedgerEntry, column_name, quota_counters
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


def open_counters(session: Session, department_id: int) -> None:
    """The counters row of a new department: no limits, nothing used."""
    session.execute(insert(quota_counters).values(department_id=department_id))


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
    query = select(quota_counters)
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
    return shortfalls(_chain(session, chain), demand)


def _reserve_postgres() -> TextClause:
    """Write the ledger, lock the chain's rows in the one order (leaf first), check every class, and only
    if all fit bump them: one statement, one round trip. Returns the rows that lack room, each with the
    ids of the ledger rows, for the caller to delete (none: reserved).

    The ledger rows are written before the first lock (the locking scan's filter waits on them), so that
    the province's row stays locked only for the check, the bump, the ledger's foreign-key checks (run at
    the end of any statement), the round trip and the commit. That order saves time, not correctness.
    """
    amount = {cls: f"CAST(:{cls.value} AS bigint)" for cls in CLASSES}
    over = " OR ".join(
        f"({amount[cls]} > 0 AND {column_name(cls, Field.limit)} < "
        f"{column_name(cls, Field.in_use)} + {column_name(cls, Field.reserved)} + {amount[cls]})"
        for cls in CLASSES
    )
    bump = ", ".join(
        f"{column_name(cls, Field.reserved)} = {column_name(cls, Field.reserved)} + {amount[cls]}"
        for cls in CLASSES
    )
    amounts = ", ".join(f"('{cls.value}', {amount[cls]})" for cls in CLASSES)
    # Built once, from QuotaClass names only; every value is a bound parameter.
    return text(
        f"""
        WITH ledger AS (
            INSERT INTO quota_ledger (request_id, department_id, quota_class, movement, amount, at)
            SELECT :request_id, :requester, c, 'reserve', a, :at FROM (VALUES {amounts}) AS x (c, a)
            WHERE a > 0
            RETURNING id
        ),
        locked AS (
            SELECT * FROM quota_counters
            WHERE department_id = ANY(CAST(:ids AS integer[])) AND (SELECT count(*) FROM ledger) > 0
            ORDER BY department_id DESC
            FOR UPDATE
        ),
        short AS (SELECT * FROM locked WHERE {over}),
        bumped AS (
            UPDATE quota_counters SET {bump}
            WHERE department_id = ANY(CAST(:ids AS integer[])) AND NOT EXISTS (SELECT 1 FROM short)
        )
        SELECT *, ARRAY(SELECT id FROM ledger) AS ledger_ids FROM short
        """  # noqa: S608
    ).bindparams(bindparam("at", type_=UTCDateTime()))


_RESERVE_POSTGRES = _reserve_postgres()


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
                **{cls.value: demand.get(cls, 0) for cls in CLASSES},
                "ids": chain_ids,
                "request_id": request_id,
                "requester": department.id,
                "at": utcnow(),
            },
        ).mappings()
        short_rows, ledger_ids = {}, []
        for row in rows:
            short_rows[row["department_id"]] = _usage(row)
            ledger_ids = row["ledger_ids"]
        if not short_rows:
            return
        session.execute(delete(QuotaLedgerEntry).where(QuotaLedgerEntry.id.in_(ledger_ids)))
        chain = _departments(session, chain_ids)
        short = shortfalls([(d.code, short_rows[d.id]) for d in chain if d.id in short_rows], demand)
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
        session.execute(
            update(quota_counters)
            .where(_c.department_id == department.id)
            .values({column_name(cls, Field.limit): limit for cls, limit in limits.items()})
        )
    audit.record(
        session,
        actor=actor,
        action="quota.set_limits",
        target_type="department",
        target_id=department.code,
        detail={"limits": {cls.value: limit for cls, limit in limits.items()}},
    )
