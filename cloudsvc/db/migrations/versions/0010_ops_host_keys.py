"""pinned ssh host keys of provisioned servers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

The post-provision baseline pins each server's SSH host keys at first contact (or as the backend reports
them) and accepts no other on later runs: provisioned_resources.host_keys, a JSON list, null until pinned.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("provisioned_resources") as batch:
        batch.add_column(sa.Column("host_keys", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provisioned_resources") as batch:
        batch.drop_column("host_keys")
