"""requests that become work for the worker are announced (PostgreSQL NOTIFY)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

Idle workers poll for due requests every ``idle_sleep`` seconds; a request approved, or asked to be
decommissioned, waited on average half of that before any worker looked. A trigger now sends a
notification on the ``cloudsvc_work`` channel when a request enters one of those statuses, from whichever
process made the change, and listening workers claim it at once (cloudsvc/provisioning/wakeups.py).
PostgreSQL delivers it at commit and folds the identical notifications of one transaction into one.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION cloudsvc_announce_work() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cloudsvc_work', '');
    RETURN NULL;
END $$;
"""
WHEN_NEW = "NEW.status IN ('approved', 'decommissioning')"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER resource_requests_announce_inserted AFTER INSERT ON resource_requests "
        f"FOR EACH ROW WHEN ({WHEN_NEW}) EXECUTE FUNCTION cloudsvc_announce_work()"
    )
    op.execute(
        "CREATE TRIGGER resource_requests_announce_updated AFTER UPDATE OF status ON resource_requests "
        f"FOR EACH ROW WHEN ({WHEN_NEW} AND OLD.status IS DISTINCT FROM NEW.status) "
        "EXECUTE FUNCTION cloudsvc_announce_work()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS resource_requests_announce_updated ON resource_requests")
    op.execute("DROP TRIGGER IF EXISTS resource_requests_announce_inserted ON resource_requests")
    op.execute("DROP FUNCTION IF EXISTS cloudsvc_announce_work()")
