"""quota counters and ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Per department and class: a limit and usage rolled up over the subtree, and the ledger of movements.
Every existing department gets its counter rows (no limit, nothing used).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Frozen here: a later class gets its rows from a later migration.
QUOTA_CLASSES = ("servers", "vcpus", "ram_mb", "volumes", "volume_gb", "bandwidth_mbps")


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quota_counters",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("quota_class", sa.String(length=32), nullable=False),
        sa.Column("quota_limit", sa.BigInteger(), nullable=True),
        sa.Column("in_use", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("in_use >= 0", name=op.f("ck_quota_counters_in_use_not_negative")),
        sa.CheckConstraint(
            "quota_limit IS NULL OR quota_limit >= 0", name=op.f("ck_quota_counters_limit_not_negative")
        ),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_quota_counters_reserved_not_negative")),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_quota_counters_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("department_id", "quota_class", name=op.f("pk_quota_counters")),
    )
    op.create_table(
        "quota_ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("quota_class", sa.String(length=32), nullable=False),
        sa.Column("movement", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_quota_ledger_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["resource_requests.id"],
            name=op.f("fk_quota_ledger_request_id_resource_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_ledger")),
    )
    with op.batch_alter_table("quota_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quota_ledger_department_id"), ["department_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quota_ledger_request_id"), ["request_id"], unique=False)

    for quota_class in QUOTA_CLASSES:
        op.execute(
            sa.text(
                "INSERT INTO quota_counters (department_id, quota_class, quota_limit, in_use, reserved) "
                "SELECT id, :cls, NULL, 0, 0 FROM departments"
            ).bindparams(cls=quota_class)
        )


def downgrade() -> None:
    with op.batch_alter_table("quota_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quota_ledger_request_id"))
        batch_op.drop_index(batch_op.f("ix_quota_ledger_department_id"))

    op.drop_table("quota_ledger")
    op.drop_table("quota_counters")
