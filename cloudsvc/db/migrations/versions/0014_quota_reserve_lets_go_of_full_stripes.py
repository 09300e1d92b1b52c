"""quota admission: a stripe found full once locked is let go before the wait for all of them

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

The quick pick (``FOR UPDATE SKIP LOCKED`` on a stripe with room) can end up holding stripes it did not
pick: a stripe changed by a transaction that committed after the pick's snapshot is locked first and only
then rechecked, and when it has no room any more it stays locked, unreturned. An admission that then found
no stripe with room waited for every stripe in stripe order while already holding one out of order, and
two such admissions deadlocked (seen in CI under the concurrency test: 3 of 4,000 operations; a stress run
of 16 threads on one 16-stripe department near its limit deadlocked 83 times in 4,300 admissions). The
quick pick now runs in a subtransaction that is rolled back when it finds nothing, which lets those stripes
go, so the wait for all of them starts from holding none of the department's.
"""

# SQL here is built from the frozen names of 0013 only, never from input.
# ruff: noqa: S608

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The classes and SQL helpers frozen with 0013: this changes the function's control flow, not its columns.
_0013 = importlib.import_module("cloudsvc.db.migrations.versions.0013_quota_ledger_row_per_movement")
_each, _bump = _0013._each, _0013._bump

# A SQLSTATE of our own, raised only to roll the quick pick's subtransaction back.
NOTHING_FREE = "CQ001"

RESERVE = f"""
CREATE OR REPLACE FUNCTION cloudsvc_quota_reserve(
    chain integer[], need bigint[], request text, requester integer, at timestamptz
) RETURNS integer[] LANGUAGE plpgsql AS $$
DECLARE
    d integer;
    s integer;
    fits boolean;
    lim bigint[];
    picked integer[] := '{{}}';
    stripes integer[] := '{{}}';
    short integer[] := '{{}}';
    i integer;
BEGIN
    FOREACH d IN ARRAY chain LOOP
        BEGIN
            -- Any stripe nobody holds that has room: concurrent admissions take different stripes.
            SELECT stripe INTO s FROM quota_counters
            WHERE department_id = d AND {
    _each(
        "(need[{k}] = 0 OR {c}_share IS NULL OR {c}_share >= {c}_in_use + {c}_reserved + need[{k}])",
        " AND ",
    )
}
            ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = '{NOTHING_FREE}';
            END IF;
        EXCEPTION WHEN SQLSTATE '{NOTHING_FREE}' THEN
            s := NULL;  -- and the stripes the pick locked without taking them are free again
        END;
        IF s IS NULL THEN
            -- Wait for every stripe, in stripe order, then judge the department as a whole.
            PERFORM 1 FROM quota_counters WHERE department_id = d ORDER BY stripe FOR UPDATE;
            SELECT {
    _each(
        "(need[{k}] = 0 OR max({c}_limit) IS NULL "
        "OR max({c}_limit) >= sum({c}_in_use) + sum({c}_reserved) + need[{k}])",
        " AND ",
    )
} INTO fits FROM quota_counters WHERE department_id = d;
            IF NOT fits THEN
                short := short || d;
                CONTINUE;
            END IF;
            SELECT ARRAY[{_each("max({c}_limit)")}] INTO lim
            FROM quota_counters WHERE department_id = d;
            s := 0;
            PERFORM cloudsvc_quota_share(d, lim, s, need);
        END IF;
        UPDATE quota_counters SET {_bump("+")} WHERE department_id = d AND stripe = s;
        picked := picked || d;
        stripes := stripes || s;
    END LOOP;
    IF cardinality(short) > 0 THEN
        -- Take back what this call added: the caller may go on with its transaction.
        FOR i IN 1 .. cardinality(picked) LOOP
            UPDATE quota_counters SET {_bump("-")}
            WHERE department_id = picked[i] AND stripe = stripes[i];
        END LOOP;
        RETURN short;
    END IF;
    INSERT INTO quota_ledger (request_id, department_id, movement, at, {", ".join(_0013.QUOTA_CLASSES)})
    VALUES (request, requester, 'reserve', at, {_each("need[{k}]")});
    RETURN short;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(RESERVE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_0013.RESERVE)
