"""quota change requests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

A quota change request asks for limits, not for resources in a zone: zone, classification, MLPS level
and lease are null for it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("resource_requests", schema=None) as batch_op:
        batch_op.alter_column("zone_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.alter_column("classification", existing_type=sa.VARCHAR(length=16), nullable=True)
        batch_op.alter_column("mlps_level", existing_type=sa.INTEGER(), nullable=True)
        batch_op.alter_column("lease_days", existing_type=sa.INTEGER(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("resource_requests", schema=None) as batch_op:
        batch_op.alter_column("lease_days", existing_type=sa.INTEGER(), nullable=False)
        batch_op.alter_column("mlps_level", existing_type=sa.INTEGER(), nullable=False)
        batch_op.alter_column("classification", existing_type=sa.VARCHAR(length=16), nullable=False)
        batch_op.alter_column("zone_id", existing_type=sa.INTEGER(), nullable=False)
