"""provisioning worker state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

What the reconciling worker keeps: per-request lease, retry and progress columns; the backend objects it
saw; departments' tenancies per zone; its step log; zone health; the simulator's objects.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "simulator_objects",
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_simulator_objects_zone_id_zones")),
        sa.PrimaryKeyConstraint("zone_id", "key", name=op.f("pk_simulator_objects")),
    )
    op.create_table(
        "tenancies",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("backend_id", sa.String(length=200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_tenancies_department_id_departments")
        ),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_tenancies_zone_id_zones")),
        sa.PrimaryKeyConstraint("department_id", "zone_id", name=op.f("pk_tenancies")),
    )
    op.create_table(
        "zone_health",
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_zone_health_zone_id_zones")),
        sa.PrimaryKeyConstraint("zone_id", name=op.f("pk_zone_health")),
    )
    op.create_table(
        "provisioned_resources",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("backend_id", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["resource_requests.id"],
            name=op.f("fk_provisioned_resources_request_id_resource_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", "index", name=op.f("pk_provisioned_resources")),
    )
    op.create_table(
        "provisioning_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["resource_requests.id"],
            name=op.f("fk_provisioning_steps_request_id_resource_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_steps")),
    )
    with op.batch_alter_table("provisioning_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provisioning_steps_request_id"), ["request_id"], unique=False)

    with op.batch_alter_table("resource_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("progress", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failure_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("drift", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resource_requests", schema=None) as batch_op:
        batch_op.drop_column("drift")
        batch_op.drop_column("failure_reason")
        batch_op.drop_column("waiting_since")
        batch_op.drop_column("progress")
        batch_op.drop_column("attempts")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")

    with op.batch_alter_table("provisioning_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provisioning_steps_request_id"))

    op.drop_table("provisioning_steps")
    op.drop_table("provisioned_resources")
    op.drop_table("zone_health")
    op.drop_table("tenancies")
    op.drop_table("simulator_objects")
