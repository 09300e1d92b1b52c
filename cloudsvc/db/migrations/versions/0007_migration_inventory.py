"""migration of legacy systems

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

The legacy-system inventory and its dependencies, wave plans with their waves and systems, the resource
requests a system's move submitted, cutover step records, and the progress targets.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "migration_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("optimal", sa.Boolean(), nullable=False),
        sa.Column("lower_bound", sa.Integer(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_plans")),
    )
    op.create_table(
        "migration_targets",
        sa.Column("kpi", sa.String(length=48), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("set_by", sa.String(length=36), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kpi", name=op.f("pk_migration_targets")),
    )
    op.create_table(
        "legacy_systems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("classification", sa.String(length=16), nullable=False),
        sa.Column("mlps_level", sa.Integer(), nullable=False),
        sa.Column("current_location", sa.String(length=200), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("ram_mb", sa.Integer(), nullable=False),
        sa.Column("storage_gb", sa.Integer(), nullable=False),
        sa.Column("bandwidth_mbps", sa.Integer(), nullable=False),
        sa.Column("criticality", sa.String(length=16), nullable=False),
        sa.Column("cutover_hours", sa.Float(), nullable=False),
        sa.Column("maintenance_windows", sa.JSON(), nullable=False),
        sa.Column("blackout_periods", sa.JSON(), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=True),
        sa.Column("suggested_strategy", sa.String(length=16), nullable=True),
        sa.Column("target_zone_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("readiness", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_legacy_systems_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["target_zone_id"], ["zones.id"], name=op.f("fk_legacy_systems_target_zone_id_zones")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legacy_systems")),
        sa.UniqueConstraint("code", name=op.f("uq_legacy_systems_code")),
    )
    with op.batch_alter_table("legacy_systems", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legacy_systems_department_id"), ["department_id"], unique=False)
        batch_op.create_index("ix_legacy_systems_status", ["status"], unique=False)

    op.create_table(
        "migration_waves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["migration_plans.id"], name=op.f("fk_migration_waves_plan_id_migration_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_waves")),
    )
    with op.batch_alter_table("migration_waves", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_migration_waves_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "cutover_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("rollback", sa.Boolean(), nullable=False),
        sa.Column("playbook", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("failed_task", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("stdout", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"], ["legacy_systems.id"], name=op.f("fk_cutover_steps_system_id_legacy_systems")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cutover_steps")),
    )
    with op.batch_alter_table("cutover_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cutover_steps_system_id"), ["system_id"], unique=False)

    op.create_table(
        "legacy_system_dependencies",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("depends_on_id", sa.Integer(), nullable=False),
        sa.Column("coupling", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["depends_on_id"],
            ["legacy_systems.id"],
            name=op.f("fk_legacy_system_dependencies_depends_on_id_legacy_systems"),
        ),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["legacy_systems.id"],
            name=op.f("fk_legacy_system_dependencies_system_id_legacy_systems"),
        ),
        sa.PrimaryKeyConstraint("system_id", "depends_on_id", name=op.f("pk_legacy_system_dependencies")),
    )
    with op.batch_alter_table("legacy_system_dependencies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_legacy_system_dependencies_depends_on_id"), ["depends_on_id"], unique=False
        )

    op.create_table(
        "migration_wave_systems",
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["legacy_systems.id"],
            name=op.f("fk_migration_wave_systems_system_id_legacy_systems"),
        ),
        sa.ForeignKeyConstraint(
            ["wave_id"],
            ["migration_waves.id"],
            name=op.f("fk_migration_wave_systems_wave_id_migration_waves"),
        ),
        sa.PrimaryKeyConstraint("wave_id", "system_id", name=op.f("pk_migration_wave_systems")),
    )
    with op.batch_alter_table("migration_wave_systems", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_migration_wave_systems_system_id"), ["system_id"], unique=False)

    op.create_table(
        "migration_requests",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["resource_requests.id"],
            name=op.f("fk_migration_requests_request_id_resource_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["system_id"], ["legacy_systems.id"], name=op.f("fk_migration_requests_system_id_legacy_systems")
        ),
        sa.ForeignKeyConstraint(
            ["wave_id"], ["migration_waves.id"], name=op.f("fk_migration_requests_wave_id_migration_waves")
        ),
        sa.PrimaryKeyConstraint("system_id", "request_id", name=op.f("pk_migration_requests")),
    )


def downgrade() -> None:

    op.drop_table("migration_requests")
    with op.batch_alter_table("migration_wave_systems", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_migration_wave_systems_system_id"))

    op.drop_table("migration_wave_systems")
    with op.batch_alter_table("legacy_system_dependencies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legacy_system_dependencies_depends_on_id"))

    op.drop_table("legacy_system_dependencies")
    with op.batch_alter_table("cutover_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cutover_steps_system_id"))

    op.drop_table("cutover_steps")
    with op.batch_alter_table("migration_waves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_migration_waves_plan_id"))

    op.drop_table("migration_waves")
    with op.batch_alter_table("legacy_systems", schema=None) as batch_op:
        batch_op.drop_index("ix_legacy_systems_status")
        batch_op.drop_index(batch_op.f("ix_legacy_systems_department_id"))

    op.drop_table("legacy_systems")
    op.drop_table("migration_targets")
    op.drop_table("migration_plans")
