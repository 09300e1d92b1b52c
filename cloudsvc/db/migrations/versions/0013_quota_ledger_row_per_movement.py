"""quota ledger: one row per movement; admission bumps each stripe where it locks it

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

An admission wrote a ledger row per quota class (four for a server) and bumped the stripes it had locked in
one UPDATE joined to an unnest() of them, whose generic plan scanned the whole counters table. Measured
server-side, the two were 45% of an admission's time. Now a movement is one ledger row with a column per
class (like the counters), and ``cloudsvc_quota_reserve`` bumps each stripe by its primary key as soon as it
has locked it, taking the bumps back if some department lacks room, so a denial still leaves nothing behind.

Existing rows are merged per request, department and movement: a request makes each movement at most once,
so nothing is lost but the split by class.
"""

# SQL here is built from the frozen names below only, never from input.
# ruff: noqa: S608

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Frozen here: a later class gets its columns (and this function again) from a later migration.
QUOTA_CLASSES = ("servers", "vcpus", "ram_mb", "volumes", "volume_gb", "bandwidth_mbps")

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _each(template: str, joiner: str = ", ") -> str:
    """``template`` once per class: {c} is the class's column prefix, {k} its 1-based index in the arrays."""
    return joiner.join(template.format(c=cls, k=k) for k, cls in enumerate(QUOTA_CLASSES, start=1))


def _bump(sign: str) -> str:
    return _each(f"{{c}}_reserved = quota_counters.{{c}}_reserved {sign} need[{{k}}]")


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
    i integer;
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
    INSERT INTO quota_ledger (request_id, department_id, movement, at, {", ".join(QUOTA_CLASSES)})
    VALUES (request, requester, 'reserve', at, {_each("need[{k}]")});
    RETURN short;
END
$$
"""

_MERGED = ", ".join(f"SUM(CASE WHEN quota_class = '{cls}' THEN amount ELSE 0 END)" for cls in QUOTA_CLASSES)


def _previous(revision_module: str) -> str:
    """The function as an earlier migration defined it (frozen there)."""
    module = importlib.import_module(f"cloudsvc.db.migrations.versions.{revision_module}")
    return str(module.RESERVE)


def upgrade() -> None:
    with op.batch_alter_table("quota_ledger", schema=None) as batch_op:
        for cls in QUOTA_CLASSES:
            batch_op.add_column(sa.Column(cls, sa.BigInteger(), nullable=False, server_default="0"))
    merged_from = sa.text("SELECT COALESCE(MAX(id), 0) FROM quota_ledger")
    last_old = op.get_bind().execute(merged_from).scalar_one()
    op.execute(
        f"INSERT INTO quota_ledger (request_id, department_id, movement, at, quota_class, amount, "
        f"{', '.join(QUOTA_CLASSES)}) "
        f"SELECT request_id, department_id, movement, MIN(at), '', 0, {_MERGED} FROM quota_ledger "
        "GROUP BY request_id, department_id, movement ORDER BY MIN(id)"
    )
    op.execute(sa.text("DELETE FROM quota_ledger WHERE id <= :last").bindparams(last=last_old))
    with op.batch_alter_table("quota_ledger", schema=None) as batch_op:
        batch_op.drop_column("quota_class")
        batch_op.drop_column("amount")
        for cls in QUOTA_CLASSES:
            batch_op.alter_column(cls, server_default=None)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(RESERVE)


def downgrade() -> None:
    with op.batch_alter_table("quota_ledger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quota_class", sa.String(32), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("amount", sa.BigInteger(), nullable=False, server_default="0"))
    last_new = op.get_bind().execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM quota_ledger")).scalar_one()
    for cls in QUOTA_CLASSES:
        op.execute(
            f"INSERT INTO quota_ledger (request_id, department_id, movement, at, quota_class, amount, "
            f"{', '.join(QUOTA_CLASSES)}) "
            f"SELECT request_id, department_id, movement, at, '{cls}', {cls}, "
            f"{', '.join('0' for _ in QUOTA_CLASSES)} FROM quota_ledger "
            f"WHERE id <= {int(last_new)} AND {cls} <> 0"
        )
    op.execute(sa.text("DELETE FROM quota_ledger WHERE id <= :last").bindparams(last=last_new))
    with op.batch_alter_table("quota_ledger", schema=None) as batch_op:
        for cls in QUOTA_CLASSES:
            batch_op.drop_column(cls)
        batch_op.alter_column("quota_class", server_default=None)
        batch_op.alter_column("amount", server_default=None)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_previous("0008_quota_counter_stripes"))
