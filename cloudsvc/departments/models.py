from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloudsvc.db import Base, UTCDateTime, utcnow


class Level(StrEnum):
    province = "province"
    city = "city"
    county = "county"
    township = "township"
    department = "department"

    @property
    def rank(self) -> int:
        """0 for the province; a child's rank is always greater than its parent's."""
        return list(Level).index(self)


class Department(Base):
    __tablename__ = "departments"
    __table_args__ = (
        # text_pattern_ops lets PostgreSQL answer subtree (prefix LIKE) queries from the index.
        Index("ix_departments_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    # Materialised path of ids, "/1/7/42/": a subtree is a prefix match, at any depth, in one indexed query.
    path: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this department, itself included."""
        return ancestor_ids(self.path)


def ancestor_ids(path: str) -> list[int]:
    """The ids in a materialised ``path``, from the root down."""
    return [int(part) for part in path.strip("/").split("/")]
