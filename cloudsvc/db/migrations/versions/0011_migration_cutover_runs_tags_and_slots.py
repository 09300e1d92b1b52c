"""migration: cutover runs with a heartbeat, system tags, cutover slots in waves

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

- ``legacy_systems.cutover_run`` and ``cutover_heartbeat_at``: the cutover under way (its run id) and when
  it last said it was alive, so that an operator may take over a cutover whose process died, and a run that
  was taken over stops writing.
- ``legacy_systems.tags``: the labels the assessment rules read (``end-of-life``, ``vmware``…) and that
  scoped blackouts select systems by.
- ``migration_wave_systems.cutover_starts``: when, within its wave, the system's cutover starts (the
  opening of one of its maintenance windows; local wall-clock time, as the windows are written).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("legacy_systems", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("cutover_run", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("cutover_heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("migration_wave_systems", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cutover_starts", sa.DateTime(timezone=False), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("migration_wave_systems", schema=None) as batch_op:
        batch_op.drop_column("cutover_starts")
    with op.batch_alter_table("legacy_systems", schema=None) as batch_op:
        batch_op.drop_column("cutover_heartbeat_at")
        batch_op.drop_column("cutover_run")
        batch_op.drop_column("tags")
