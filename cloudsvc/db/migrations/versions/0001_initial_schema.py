"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Departments, principals and role bindings, zones, resource requests with their transitions, approval
policies and idempotency keys, and the hash-chained audit trail with its head row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(
        sa.table("audit_chain_head", sa.column("id"), sa.column("last_event_id"), sa.column("last_hash")),
        [{"id": 1, "last_event_id": 0, "last_hash": "0" * 64}],
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("http_request_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_action"), ["action"], unique=False)
        batch_op.create_index("ix_audit_events_actor", ["actor_id"], unique=False)
        batch_op.create_index("ix_audit_events_target", ["target_type", "target_id"], unique=False)

    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["departments.id"], name=op.f("fk_departments_parent_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_departments_code")),
    )
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_departments_parent_id"), ["parent_id"], unique=False)
        # text_pattern_ops lets PostgreSQL answer subtree (prefix LIKE) queries from the index.
        batch_op.create_index(
            batch_op.f("ix_departments_path"),
            ["path"],
            unique=False,
            postgresql_ops={"path": "text_pattern_ops"},
        )

    op.create_table(
        "principals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals")),
        sa.UniqueConstraint("name", name=op.f("uq_principals_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_principals_token_hash")),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("mlps_level", sa.Integer(), nullable=False),
        sa.Column("xinchuang", sa.Boolean(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zones")),
        sa.UniqueConstraint("name", name=op.f("uq_zones_name")),
    )
    op.create_table(
        "approval_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("max_demand", sa.JSON(), nullable=False),
        sa.Column("skip_stages", sa.JSON(), nullable=False),
        sa.Column("set_by", sa.String(length=36), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_approval_policies_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_policies")),
        sa.UniqueConstraint("department_id", name=op.f("uq_approval_policies_department_id")),
    )
    op.create_table(
        "role_bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_role_bindings_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_role_bindings_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_bindings")),
    )
    with op.batch_alter_table("role_bindings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_bindings_principal_id"), ["principal_id"], unique=False)

    op.create_table(
        "resource_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("classification", sa.String(length=16), nullable=False),
        sa.Column("mlps_level", sa.Integer(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("lease_days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("approval_stage", sa.String(length=16), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approval_policy_id", sa.Integer(), nullable=True),
        sa.Column("waived_stages", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approval_policy_id"],
            ["approval_policies.id"],
            name=op.f("fk_resource_requests_approval_policy_id_approval_policies"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_resource_requests_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["principals.id"], name=op.f("fk_resource_requests_requested_by_principals")
        ),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_resource_requests_zone_id_zones")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_requests")),
    )
    with op.batch_alter_table("resource_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_resource_requests_department_created", ["department_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_resource_requests_status", ["status"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["resource_requests.id"],
            name=op.f("fk_idempotency_keys_request_id_resource_requests"),
        ),
        sa.PrimaryKeyConstraint("principal_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "request_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["approval_policies.id"],
            name=op.f("fk_request_transitions_policy_id_approval_policies"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["resource_requests.id"],
            name=op.f("fk_request_transitions_request_id_resource_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_transitions")),
    )
    with op.batch_alter_table("request_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_transitions_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("request_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_transitions_request_id"))

    op.drop_table("request_transitions")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("resource_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_resource_requests_status")
        batch_op.drop_index("ix_resource_requests_department_created")

    op.drop_table("resource_requests")
    with op.batch_alter_table("role_bindings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_bindings_principal_id"))

    op.drop_table("role_bindings")
    op.drop_table("approval_policies")
    op.drop_table("zones")
    op.drop_table("principals")
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_departments_path"))
        batch_op.drop_index(batch_op.f("ix_departments_parent_id"))

    op.drop_table("departments")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_target")
        batch_op.drop_index("ix_audit_events_actor")
        batch_op.drop_index(batch_op.f("ix_audit_events_action"))

    op.drop_table("audit_events")
    op.drop_table("audit_chain_head")
