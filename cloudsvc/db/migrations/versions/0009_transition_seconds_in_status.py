"""how long a request had been in the status a transition left

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

The duration histograms of GET /metrics (submission to approval, provisioning to active) joined every
transition to its request or to another transition at each scrape: a few hundred milliseconds on a
province's history. Each transition now carries the time spent in the status it left, filled in here
for the history already recorded, and an index that answers the histograms by itself.
"""

# ruff: noqa: S608  (the SQL is built from constants of this file)

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# For each transition, when its request entered the status the transition leaves: the latest earlier
# transition of the request that changed the status (passing an approval stage does not).
_ENTERED = """
SELECT id, at, MAX(CASE WHEN from_status IS NULL OR from_status <> to_status THEN at END) OVER (
    PARTITION BY request_id ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
) AS entered
FROM request_transitions
"""


def upgrade() -> None:
    op.add_column("request_transitions", sa.Column("seconds_in_status", sa.Float(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        seconds = "GREATEST(EXTRACT(EPOCH FROM e.at - e.entered)::float8, 0)"
        op.execute(
            f"UPDATE request_transitions t SET seconds_in_status = {seconds} "
            f"FROM ({_ENTERED}) e WHERE e.id = t.id AND e.entered IS NOT NULL"
        )
    else:  # SQLite keeps timestamps as ISO text
        seconds = "MAX((julianday(e.at) - julianday(e.entered)) * 86400.0, 0)"
        op.execute(
            f"UPDATE request_transitions SET seconds_in_status = (SELECT {seconds} "
            f"FROM ({_ENTERED}) e WHERE e.id = request_transitions.id AND e.entered IS NOT NULL)"
        )
    op.create_index(
        "ix_request_transitions_durations",
        "request_transitions",
        ["to_status", "from_status", "seconds_in_status"],
    )


def downgrade() -> None:
    op.drop_index("ix_request_transitions_durations", table_name="request_transitions")
    op.drop_column("request_transitions", "seconds_in_status")
