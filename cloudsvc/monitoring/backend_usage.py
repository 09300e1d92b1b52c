"""Collecting what servers actually use from their backends, in the worker (never at scrape time: a
scrape must not wait on clouds). Each round asks about the resources whose figures are oldest, a bounded
number at a time, and forgets the figures of requests that are no longer active."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cloudsvc.db import Database, upsert
from cloudsvc.departments.models import Department
from cloudsvc.monitoring.models import BackendUsage
from cloudsvc.monitoring.recording import count_backend_error
from cloudsvc.provisioning.models import ProvisionedResource
from cloudsvc.provisioning.store import DatabaseStore
from cloudsvc.resource_requests.lifecycle import Status
from cloudsvc.resource_requests.models import ResourceRequest
from cloudsvc.zones.models import Zone
from provisioners import base, registry

log = logging.getLogger(__name__)

# (zone id, backend, zone settings) → that zone's driver
DriverFor = Callable[[int, str, dict[str, Any]], base.Driver]


def _due(session: Session, limit: int, asked_before: datetime) -> list[Any]:
    query = (
        select(
            ProvisionedResource.request_id,
            ProvisionedResource.index,
            ProvisionedResource.kind,
            ResourceRequest.classification,
            ResourceRequest.mlps_level,
            Department.id.label("department_id"),
            Department.code.label("department_code"),
            Department.name.label("department_name"),
            Department.level,
            Zone.id.label("zone_id"),
            Zone.backend,
            Zone.settings,
        )
        .join(ResourceRequest, ResourceRequest.id == ProvisionedResource.request_id)
        .join(Department, Department.id == ResourceRequest.department_id)
        .join(Zone, Zone.id == ResourceRequest.zone_id)
        .outerjoin(
            BackendUsage,
            (BackendUsage.request_id == ProvisionedResource.request_id)
            & (BackendUsage.index == ProvisionedResource.index),
        )
        .where(
            ResourceRequest.status == Status.active,
            ProvisionedResource.state == base.State.ready,
            ProvisionedResource.kind == base.Kind.server,
            # Not asked since ``asked_before``: several workers collecting do not ask about one server twice.
            BackendUsage.collected_at.is_(None) | (BackendUsage.collected_at < asked_before),
        )
        .order_by(BackendUsage.collected_at.is_not(None), BackendUsage.collected_at)  # never asked first
        .limit(limit)
    )
    return list(session.execute(query))


def collect(
    database: Database,
    *,
    now: datetime,
    limit: int,
    stale_after: timedelta = timedelta(0),
    drivers: DriverFor | None = None,
) -> int:
    """Ask the backends about up to ``limit`` servers not asked about for ``stale_after``, through
    ``drivers`` (default: drivers made for this round); returns how many answered with figures."""
    with database.session() as session:
        due = _due(session, limit, now - stale_after)
    made: dict[int, base.Driver] = {}
    answers: list[tuple[Any, base.ResourceUsage | None]] = []
    errors: list[tuple[int, str, base.DriverError]] = []
    for row in due:
        key = base.ResourceKey(row.request_id, row.index, base.Kind(row.kind))
        tenancy = base.Tenancy(
            department_code=row.department_code,
            department_name=row.department_name,
            level=row.level,
            classification=row.classification,
            mlps_level=row.mlps_level,
            limits={},  # usage needs only to find the department's place in the zone
        )
        try:
            if row.zone_id not in made:
                made[row.zone_id] = (
                    drivers(row.zone_id, row.backend, dict(row.settings))
                    if drivers is not None
                    else registry.load(row.backend, row.settings, store=DatabaseStore(database, row.zone_id))
                )
            answers.append((row, made[row.zone_id].usage(key, tenancy)))
        except base.DriverError as exc:  # figures are best effort; the error is counted like any other
            log.warning("usage of %s in zone %s: %s", key.name, row.zone_id, exc)
            errors.append((row.zone_id, row.kind, exc))
    with database.transaction() as session:
        for zone_id, kind, error in errors:
            count_backend_error(session, zone_id=zone_id, kind=kind, error=error)
        for row, usage in answers:
            if usage is None:
                continue
            upsert(  # several workers may collect the same resource's figures at once
                session,
                BackendUsage,
                {
                    "request_id": row.request_id,
                    "index": row.index,
                    "department_id": row.department_id,
                    "zone_id": row.zone_id,
                    "kind": row.kind,
                    "cpu_seconds": usage.cpu_seconds,
                    "memory_used_bytes": usage.memory_used_bytes,
                    "collected_at": now,
                },
                keys=["request_id", "index"],
            )
        gone = select(ResourceRequest.id).where(ResourceRequest.status != Status.active)
        session.execute(delete(BackendUsage).where(BackendUsage.request_id.in_(gone)))
    return sum(usage is not None for _, usage in answers)
