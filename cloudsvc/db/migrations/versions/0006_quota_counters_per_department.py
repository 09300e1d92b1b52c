"""quota counters: one row per department

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

An admission locks the counters of the requester's whole ancestor chain. With a row per department and
class that was up to six row locks per level and per admission, four of them on the province; with a row
per department holding three columns per class it is one per level. The values are carried over.
"""

# SQL here is built from the frozen names below only, never from input.
# ruff: noqa: S608

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Frozen here: a later class gets its columns from a later migration.
QUOTA_CLASSES = ("servers", "vcpus", "ram_mb", "volumes", "volume_gb", "bandwidth_mbps")
PER_CLASS = "quota_counters_per_class"

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _per_department_table() -> None:
    columns: list[sa.schema.SchemaItem] = []
    for cls in QUOTA_CLASSES:
        limit, in_use, reserved = f"{cls}_limit", f"{cls}_in_use", f"{cls}_reserved"
        columns += [
            sa.Column(limit, sa.BigInteger(), nullable=True),
            sa.Column(in_use, sa.BigInteger(), nullable=False),
            sa.Column(reserved, sa.BigInteger(), nullable=False),
            sa.CheckConstraint(f"{in_use} >= 0", name=op.f(f"ck_quota_counters_{in_use}_not_negative")),
            sa.CheckConstraint(f"{reserved} >= 0", name=op.f(f"ck_quota_counters_{reserved}_not_negative")),
            sa.CheckConstraint(
                f"{limit} IS NULL OR {limit} >= 0", name=op.f(f"ck_quota_counters_{limit}_not_negative")
            ),
        ]
    op.create_table(
        "quota_counters",
        sa.Column("department_id", sa.Integer(), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_quota_counters_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("department_id", name=op.f("pk_quota_counters")),
    )


def _per_class_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("quota_class", sa.String(length=32), nullable=False),
        sa.Column("quota_limit", sa.BigInteger(), nullable=True),
        sa.Column("in_use", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("in_use >= 0", name=op.f(f"ck_{name}_in_use_not_negative")),
        sa.CheckConstraint(
            "quota_limit IS NULL OR quota_limit >= 0", name=op.f(f"ck_{name}_limit_not_negative")
        ),
        sa.CheckConstraint("reserved >= 0", name=op.f(f"ck_{name}_reserved_not_negative")),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f(f"fk_{name}_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("department_id", "quota_class", name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    _per_class_table(PER_CLASS)
    op.execute(f"INSERT INTO {PER_CLASS} SELECT * FROM quota_counters")
    op.drop_table("quota_counters")
    _per_department_table()
    pivot = ", ".join(
        f"MAX(CASE WHEN quota_class = '{cls}' THEN quota_limit END), "
        f"COALESCE(MAX(CASE WHEN quota_class = '{cls}' THEN in_use END), 0), "
        f"COALESCE(MAX(CASE WHEN quota_class = '{cls}' THEN reserved END), 0)"
        for cls in QUOTA_CLASSES
    )
    op.execute(
        f"INSERT INTO quota_counters SELECT d.id, {pivot} FROM departments d "
        f"LEFT JOIN {PER_CLASS} q ON q.department_id = d.id GROUP BY d.id"
    )
    op.drop_table(PER_CLASS)


def downgrade() -> None:
    _per_class_table(PER_CLASS)
    for cls in QUOTA_CLASSES:
        op.execute(
            f"INSERT INTO {PER_CLASS} "
            f"SELECT department_id, '{cls}', {cls}_limit, {cls}_in_use, {cls}_reserved FROM quota_counters"
        )
    op.drop_table("quota_counters")
    _per_class_table("quota_counters")  # with 0002's constraint names
    op.execute(f"INSERT INTO quota_counters SELECT * FROM {PER_CLASS}")
    op.drop_table(PER_CLASS)
