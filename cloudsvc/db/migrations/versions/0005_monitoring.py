"""monitoring figures

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

What the worker and the audit verifier leave for GET /metrics: backend error counts, backend usage per
resource, each worker's last pass, and the latest audit verification result.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backend_error_counts",
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zones.id"], name=op.f("fk_backend_error_counts_zone_id_zones")
        ),
        sa.PrimaryKeyConstraint("zone_id", "kind", "error", name=op.f("pk_backend_error_counts")),
    )
    op.create_table(
        "backend_usage",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=True),
        sa.Column("memory_used_bytes", sa.BigInteger(), nullable=True),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["resource_requests.id"],
            name=op.f("fk_backend_usage_request_id_resource_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_backend_usage_department_id_departments")
        ),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_backend_usage_zone_id_zones")),
        sa.PrimaryKeyConstraint("request_id", "index", name=op.f("pk_backend_usage")),
    )
    op.create_index(op.f("ix_backend_usage_department_id"), "backend_usage", ["department_id"])
    op.create_table(
        "worker_passes",
        sa.Column("worker_id", sa.String(length=100), nullable=False),
        sa.Column("last_pass_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_passes")),
    )
    op.create_table(
        "audit_verification_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verification_results")),
    )


def downgrade() -> None:
    op.drop_table("audit_verification_results")
    op.drop_table("worker_passes")
    op.drop_index(op.f("ix_backend_usage_department_id"), table_name="backend_usage")
    op.drop_table("backend_usage")
    op.drop_table("backend_error_counts")
