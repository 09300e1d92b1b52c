"""quota counters: stripes for the departments every admission passes through

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

Every admission locked the province's one counters row, so admissions anywhere in the province queued for
it. A department may now have several counter rows (stripes); each carries the department's limit and a
share of it (``<class>_share``), the shares summing to at most the limit, and the department's usage is the
sum over its stripes. An admission takes any
stripe that is free and has room for it (FOR UPDATE SKIP LOCKED), so concurrent admissions take different
stripes; only when no free stripe has room does it wait for all of them and share the room out again.
Releases and activations may land on any stripe: they never grow a stripe's use, so no stripe goes over its
share and the shares, summing to no more than the limit, keep the sum within it. A stripe's own figures
mean nothing alone (they may be negative); their sums are the department's.

On PostgreSQL three functions do the work server-side, in one round trip and without a client round trip
while a hot row is locked. SQLite has one writer at a time and keeps one stripe per department.
Existing departments keep their single row (stripe 0); new ones get the stripes their level asks for.
"""

# SQL here is built from the frozen names below only, never from input.
# ruff: noqa: S608

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Frozen here: a later class gets its columns (and these functions again) from a later migration.
QUOTA_CLASSES = ("servers", "vcpus", "ram_mb", "volumes", "volume_gb", "bandwidth_mbps")
FIELDS = ("in_use", "reserved", "limit")

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _each(template: str, joiner: str = ", ") -> str:
    """``template`` once per class: {c} is the class's column prefix, {k} its 1-based index in the arrays."""
    return joiner.join(template.format(c=cls, k=k) for k, cls in enumerate(QUOTA_CLASSES, start=1))


# Shares for department d's stripes (all of them locked by the caller) from limits lim (NULL: none), with
# need set aside on stripe fav. With room to spare it is split evenly (the remainder to fav), summing to the
# limit; with none, every stripe's share is its use less the whole shortfall, so that no stripe has room until
# the department's use is back under its limit, whichever stripes the releases land on.
SHARE = f"""
CREATE OR REPLACE FUNCTION cloudsvc_quota_share(d integer, lim bigint[], fav integer, need bigint[])
RETURNS void LANGUAGE sql AS $$
    UPDATE quota_counters AS q SET {
    _each(
        "{c}_limit = lim[{k}], {c}_share = CASE WHEN lim[{k}] IS NULL THEN NULL "
        "WHEN lim[{k}] - t.u{k} - need[{k}] < 0 THEN q.{c}_in_use + q.{c}_reserved + lim[{k}] - t.u{k} "
        "ELSE q.{c}_in_use + q.{c}_reserved + (lim[{k}] - t.u{k} - need[{k}]) / t.n "
        "+ CASE WHEN q.stripe = fav THEN need[{k}] + (lim[{k}] - t.u{k} - need[{k}]) % t.n ELSE 0 END END"
    )
}
    FROM (
        SELECT count(*) AS n, {_each("CAST(sum({c}_in_use + {c}_reserved) AS bigint) AS u{k}")}
        FROM quota_counters WHERE department_id = d
    ) AS t
    WHERE q.department_id = d
$$
"""

# Reserve need on every department of chain (leaf first) or nothing; returns the departments without room.
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
BEGIN
    FOREACH d IN ARRAY chain LOOP
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
        picked := picked || d;
        stripes := stripes || s;
    END LOOP;
    IF cardinality(short) > 0 THEN
        RETURN short;
    END IF;
    UPDATE quota_counters AS q SET {_each("{c}_reserved = q.{c}_reserved + need[{k}]")}
    FROM unnest(picked, stripes) AS p (d, s)
    WHERE q.department_id = p.d AND q.stripe = p.s;
    INSERT INTO quota_ledger (request_id, department_id, quota_class, movement, amount, at)
    SELECT request, requester, x.c, 'reserve', x.a, at
    FROM unnest(ARRAY[{_each("'{c}'")}], need) AS x (c, a) WHERE x.a > 0;
    RETURN short;
END
$$
"""

# Move usage that does not grow a stripe's use (activate, release, free) on any one stripe per department.
SETTLE = f"""
CREATE OR REPLACE FUNCTION cloudsvc_quota_settle(chain integer[], in_use bigint[], reserved bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d integer;
    s integer;
BEGIN
    FOREACH d IN ARRAY chain LOOP
        SELECT stripe INTO s FROM quota_counters WHERE department_id = d
        ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            s := 0;
        END IF;
        UPDATE quota_counters SET {
    _each("{c}_in_use = {c}_in_use + in_use[{k}], {c}_reserved = {c}_reserved + reserved[{k}]")
}
        WHERE department_id = d AND stripe = s;
    END LOOP;
END
$$
"""

FUNCTIONS = (
    "cloudsvc_quota_share(integer, bigint[], integer, bigint[])",
    "cloudsvc_quota_reserve(integer[], bigint[], text, integer, timestamptz)",
    "cloudsvc_quota_settle(integer[], bigint[], bigint[])",
)


def _checks() -> list[tuple[str, str]]:
    return [
        (f"ck_quota_counters_{cls}_{field}_not_negative", f"{cls}_{field} >= 0")
        if field != "limit"
        else (f"ck_quota_counters_{cls}_limit_not_negative", f"{cls}_limit IS NULL OR {cls}_limit >= 0")
        for cls in QUOTA_CLASSES
        for field in FIELDS
    ]


def upgrade() -> None:
    with op.batch_alter_table("quota_counters", recreate="auto") as batch:
        for name, _ in _checks():
            batch.drop_constraint(op.f(name), type_="check")
        batch.add_column(sa.Column("stripe", sa.SmallInteger(), nullable=False, server_default="0"))
        for cls in QUOTA_CLASSES:
            batch.add_column(sa.Column(f"{cls}_share", sa.BigInteger(), nullable=True))
        batch.drop_constraint(op.f("pk_quota_counters"), type_="primary")
        batch.create_primary_key(op.f("pk_quota_counters"), ["department_id", "stripe"])
    op.execute(f"UPDATE quota_counters SET {_each('{c}_share = {c}_limit')}")  # one stripe: all of it
    if op.get_bind().dialect.name == "postgresql":
        for function in (SHARE, RESERVE, SETTLE):
            op.execute(function)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in FUNCTIONS:
            op.execute(f"DROP FUNCTION {function}")
    stripes = "FROM quota_counters s WHERE s.department_id = q.department_id"
    sums = _each(
        f"{{c}}_in_use = (SELECT sum({{c}}_in_use) {stripes}), "
        f"{{c}}_reserved = (SELECT sum({{c}}_reserved) {stripes}), "
        f"{{c}}_limit = (SELECT max({{c}}_limit) {stripes})"
    )
    op.execute(f"UPDATE quota_counters AS q SET {sums} WHERE q.stripe = 0")
    op.execute("DELETE FROM quota_counters WHERE stripe <> 0")
    with op.batch_alter_table("quota_counters", recreate="auto") as batch:
        batch.drop_constraint(op.f("pk_quota_counters"), type_="primary")
        batch.create_primary_key(op.f("pk_quota_counters"), ["department_id"])
        batch.drop_column("stripe")
        for cls in QUOTA_CLASSES:
            batch.drop_column(f"{cls}_share")
        for name, condition in _checks():
            batch.create_check_constraint(op.f(name), condition)
