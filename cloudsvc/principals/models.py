from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloudsvc.db import Base, UTCDateTime, utcnow


class Role(StrEnum):
    system_admin = "system_admin"
    security_admin = "security_admin"
    auditor = "auditor"
    cloud_approver = "cloud_approver"
    operator = "operator"
    dept_admin = "dept_admin"
    dept_approver = "dept_approver"
    requester = "requester"
    viewer = "viewer"


# 等保 2.0 三员分立: the system, security and audit administrators are three different people.
SEPARATED_ADMIN_ROLES = frozenset({Role.system_admin, Role.security_admin, Role.auditor})


class Principal(Base):
    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # SHA-256 of the token. Tokens are 256-bit random, so a fast hash is enough: nothing to brute-force.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(36))

    bindings: Mapped[list[RoleBinding]] = relationship(
        back_populates="principal", cascade="all, delete-orphan", lazy="selectin"
    )


class RoleBinding(Base):
    """A role held over a department's whole subtree, or over the whole cloud when department_id is null."""

    __tablename__ = "role_bindings"

    id: Mapped[int] = mapped_column(primary_key=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))

    principal: Mapped[Principal] = relationship(back_populates="bindings")
