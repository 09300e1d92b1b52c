"""migration: the number of cutover attempts begun, kept on the system

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

``legacy_systems.cutover_attempts``: attempts were counted from the step records, so an attempt that died
before writing its first record had no number of its own, and its recovery took the previous attempt's
records for its own. Existing systems start from the highest attempt their records show.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("legacy_systems", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cutover_attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    op.execute(
        "UPDATE legacy_systems SET cutover_attempts = COALESCE("
        "(SELECT MAX(attempt) FROM cutover_steps WHERE cutover_steps.system_id = legacy_systems.id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("legacy_systems", schema=None) as batch_op:
        batch_op.drop_column("cutover_attempts")
