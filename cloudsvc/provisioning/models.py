from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloudsvc.db import Base, UTCDateTime, utcnow


class ProvisionedResource(Base):
    """What the worker last saw of one backend object of a request."""

    __tablename__ = "provisioned_resources"

    request_id: Mapped[str] = mapped_column(ForeignKey("resource_requests.id"), primary_key=True)
    index: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))  # the key written into the backend object
    backend_id: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    message: Mapped[str | None] = mapped_column(Text)
    # A server's SSH host keys ("<type> <base64>"), pinned when the baseline first met it (as the backend
    # reported them, else as the server showed them): later runs accept no other. Cleared when the
    # backend object is another one (made again), whose keys are new.
    host_keys: Mapped[list[str] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Tenancy(Base):
    """A department's place in a zone (project, namespace …), as the driver reported it."""

    __tablename__ = "tenancies"

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), primary_key=True)
    backend_id: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ProvisioningStep(Base):
    """One step the worker took for a request, with its outcome: the request's provisioning log."""

    __tablename__ = "provisioning_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("resource_requests.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    step: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # done | waiting | retry | failed
    message: Mapped[str | None] = mapped_column(Text)


class ZoneHealth(Base):
    """The last time someone asked a zone's driver whether the zone answers, and what it said."""

    __tablename__ = "zone_health"

    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), primary_key=True)
    ok: Mapped[bool]
    message: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SimulatorObject(Base):
    """The simulator driver's objects (it is not a cloud; this is where it pretends to keep things)."""

    __tablename__ = "simulator_objects"

    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
