"""The migration inventory (legacy systems and their dependencies), plans with their waves, the resource
requests a system's move made, cutover step records, and the progress targets."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloudsvc.db import Base, UTCDateTime, utcnow
from cloudsvc.departments.models import Department
from cloudsvc.zones.models import Zone


class LegacySystem(Base):
    __tablename__ = "legacy_systems"
    __table_args__ = (Index("ix_legacy_systems_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    classification: Mapped[str] = mapped_column(String(16))  # classified (涉密) / unclassified
    mlps_level: Mapped[int]  # 等级保护 level, 1-4
    current_location: Mapped[str] = mapped_column(String(200))
    vcpus: Mapped[int]
    ram_mb: Mapped[int]
    storage_gb: Mapped[int]
    bandwidth_mbps: Mapped[int]
    criticality: Mapped[str] = mapped_column(String(16))
    cutover_hours: Mapped[float] = mapped_column(Float)
    # [{"weekday": "sat", "start": "22:00", "end": "06:00"}]: when a cutover may take the system down.
    maintenance_windows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # [{"start": "2027-03-01", "end": "2027-05-31", "reason": "tax season"}]: no move in these days.
    blackout_periods: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    strategy: Mapped[str | None] = mapped_column(String(16))  # the operator's 7R choice
    suggested_strategy: Mapped[str | None] = mapped_column(String(16))  # what the assessment rules say
    target_zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(Text)
    # What the last assessment found: {"ready": bool, "checks": [{"check", "ok", "detail"}]}.
    readiness: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Labels from discovery that the assessment rules read ("end-of-life", "vmware") and scoped blackouts
    # select by ("finance"); lower case, sorted.
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The cutover under way (a run id) and when it last said it was alive: a run whose process died falls
    # silent, and an operator may then take it over (cutover.recover); a run taken over stops writing.
    cutover_run: Mapped[str | None] = mapped_column(String(36))
    cutover_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Cutover attempts begun, the last one's number: a run that dies before its first step record is still
    # known by its number, so a recovery never mistakes an earlier attempt's records for its own.
    cutover_attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    department: Mapped[Department] = relationship(lazy="joined", innerjoin=True)
    target_zone: Mapped[Zone | None] = relationship(lazy="joined")
    dependencies: Mapped[list[SystemDependency]] = relationship(
        foreign_keys="SystemDependency.system_id",
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by="SystemDependency.depends_on_id",
    )


class SystemDependency(Base):
    """``system`` depends on ``depends_on``; ``coupling`` (migrations_plan's Coupling) relates their waves:
    same_wave, before (the dependency strictly earlier) or not_after (no later than the system)."""

    __tablename__ = "legacy_system_dependencies"

    system_id: Mapped[int] = mapped_column(ForeignKey("legacy_systems.id"), primary_key=True)
    depends_on_id: Mapped[int] = mapped_column(ForeignKey("legacy_systems.id"), primary_key=True, index=True)
    coupling: Mapped[str] = mapped_column(String(16))

    depends_on: Mapped[LegacySystem] = relationship(foreign_keys=[depends_on_id], lazy="joined")


class MigrationPlan(Base):
    __tablename__ = "migration_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    method: Mapped[str] = mapped_column(String(32))  # which planner produced it
    optimal: Mapped[bool]
    lower_bound: Mapped[int]  # no plan has fewer waves
    # What was asked: capacity, first_wave_starts, wave_days, blackouts, method, systems.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    waves: Mapped[list[MigrationWave]] = relationship(
        order_by="MigrationWave.number", lazy="selectin", cascade="all, delete-orphan"
    )


class MigrationWave(Base):
    __tablename__ = "migration_waves"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("migration_plans.id"), index=True)
    number: Mapped[int]  # 1 for the first wave of its plan
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # planned / executing / done

    systems: Mapped[list[WaveSystem]] = relationship(
        order_by="WaveSystem.system_id", lazy="selectin", cascade="all, delete-orphan"
    )


class WaveSystem(Base):
    __tablename__ = "migration_wave_systems"

    wave_id: Mapped[int] = mapped_column(ForeignKey("migration_waves.id"), primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("legacy_systems.id"), primary_key=True, index=True)
    reason: Mapped[str] = mapped_column(Text)  # why the planner put it in this wave
    # When its cutover starts: the opening of one of its maintenance windows within the wave, in local
    # wall-clock time as the windows are written (no zone: the province keeps one). None: any time.
    cutover_starts: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))

    system: Mapped[LegacySystem] = relationship(lazy="joined", innerjoin=True)


class MigrationRequest(Base):
    """A resource request that a system's move submitted (its server, volume, bandwidth)."""

    __tablename__ = "migration_requests"

    system_id: Mapped[int] = mapped_column(ForeignKey("legacy_systems.id"), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("resource_requests.id"), primary_key=True)
    wave_id: Mapped[int | None] = mapped_column(ForeignKey("migration_waves.id"))
    kind: Mapped[str] = mapped_column(String(16))


class CutoverStep(Base):
    """One playbook run of a system's cutover (or of a rollback), with what Ansible said."""

    __tablename__ = "cutover_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("legacy_systems.id"), index=True)
    attempt: Mapped[int]  # cutover attempts of the system, counted from 1
    step: Mapped[str] = mapped_column(String(32))
    rollback: Mapped[bool]
    playbook: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))  # ok / failed
    failed_task: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    stdout: Mapped[str] = mapped_column(Text)
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # the task-level events, trimmed
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MigrationTarget(Base):
    """A provincial plan's goal, e.g. 95% of non-classified systems on the extranet cloud by a date."""

    __tablename__ = "migration_targets"

    kpi: Mapped[str] = mapped_column(String(48), primary_key=True)
    share: Mapped[float] = mapped_column(Float)
    due_on: Mapped[date | None] = mapped_column(Date)
    set_by: Mapped[str] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
