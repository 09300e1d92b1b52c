from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from cloudsvc.db import Base, UTCDateTime, utcnow


class Backend(StrEnum):
    openstack = "openstack"
    kubernetes = "kubernetes"
    simulator = "simulator"


class Network(StrEnum):
    intranet = "intranet"  # 内网 (电子政务内网): the only place for classified systems
    extranet = "extranet"  # 外网 (电子政务外网)


class Zone(Base):
    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    backend: Mapped[str] = mapped_column(String(16))
    network: Mapped[str] = mapped_column(String(16))
    mlps_level: Mapped[int]  # the 等级保护 level the zone is certified for
    xinchuang: Mapped[bool]  # 信创: domestic hardware and software stack
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
