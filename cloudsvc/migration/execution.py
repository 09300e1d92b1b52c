"""Executing a wave: each planned system becomes resource requests in its target zone.

The requests go through the normal request service, so they take the department's quota reservation and
approval path like any other. They are submitted *on behalf of the system's department*: the operator's
``migration.manage`` over the department is what authorises it, and the requests name the operator as
requester (the approvers of that department then decide, and a requester may never approve its own).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.errors import Conflict, NotFound
from cloudsvc.migration import lifecycle
from cloudsvc.migration import service as inventory
from cloudsvc.migration.lifecycle import SystemStatus
from cloudsvc.migration.models import LegacySystem, MigrationPlan, MigrationRequest, MigrationWave
from cloudsvc.principals.authz import Caller, Grant, Permission
from cloudsvc.principals.models import Role
from cloudsvc.resource_requests import service as requests
from cloudsvc.resource_requests.schemas import (
    BandwidthSubmission,
    ResourceSubmission,
    ServerSubmission,
    VolumeSubmission,
)

SERVER_DISK_GB = 50  # the root disk; the system's storage comes as volumes
MAX_SERVER_VCPUS = 256  # ServerSpec's limits: a bigger system becomes several equal servers
MAX_SERVER_RAM_MB = 4 * 1024 * 1024
MAX_VOLUME_GB = 65_536


def get_wave(session: Session, caller: Caller, wave_id: int, *, for_update: bool = False) -> MigrationWave:
    wave = session.get(MigrationWave, wave_id, with_for_update=for_update)
    if wave is None or not any(
        caller.may(Permission.migration_read, ws.system.department.path) for ws in wave.systems
    ):
        raise NotFound("wave", str(wave_id))
    return wave


def submissions(
    system: LegacySystem, *, image: str, justification: str, zone: str | None = None
) -> list[ResourceSubmission]:
    """The resource requests that carry ``system`` to ``zone`` (its target zone unless given): servers,
    volumes for its storage, its bandwidth."""
    if zone is None:
        assert system.target_zone is not None
        zone = system.target_zone.name
    common: dict[str, Any] = {
        "department_code": system.department.code,
        "zone": zone,
        "classification": system.classification,
        "mlps_level": system.mlps_level,
        "justification": justification,
    }
    count = max(math.ceil(system.vcpus / MAX_SERVER_VCPUS), math.ceil(system.ram_mb / MAX_SERVER_RAM_MB))
    found: list[ResourceSubmission] = [
        ServerSubmission.model_validate(
            {
                **common,
                "kind": "server",
                "spec": {
                    "vcpus": math.ceil(system.vcpus / count),
                    "ram_mb": max(128, math.ceil(system.ram_mb / count)),
                    "disk_gb": SERVER_DISK_GB,
                    "image": image,
                    "count": count,
                },
            },
            strict=False,
        )
    ]
    left = system.storage_gb
    while left > 0:
        size = min(left, MAX_VOLUME_GB)
        found.append(
            VolumeSubmission.model_validate(
                {**common, "kind": "volume", "spec": {"size_gb": size}}, strict=False
            )
        )
        left -= size
    if system.bandwidth_mbps > 0:
        found.append(
            BandwidthSubmission.model_validate(
                {**common, "kind": "bandwidth", "spec": {"mbps": system.bandwidth_mbps}}, strict=False
            )
        )
    return found


def on_behalf_of(caller: Caller, system: LegacySystem) -> Caller:
    """Submitting (and calling off) a move's requests is the department's act: the operator does it for the
    department it manages, as the requests' requester."""
    return Caller(
        principal_id=caller.principal_id,
        name=caller.name,
        grants=(*caller.grants, Grant(Role.requester, system.department.path)),
        http_request_id=caller.http_request_id,
    )


def execute(session: Session, caller: Caller, wave_id: int, *, image: str) -> MigrationWave:
    """Submit the requests of every planned system of the wave, all or none (a quota refusal undoes all)."""
    # Locked, so that two concurrent executions cannot both submit the requests (SQLite serialises anyway).
    wave = get_wave(session, caller, wave_id, for_update=True)
    plan = session.get_one(MigrationPlan, wave.plan_id)
    systems = [ws.system for ws in wave.systems]
    for system in systems:
        inventory.require_manage(caller, system)
    waiting = [s for s in systems if s.status == SystemStatus.planned]
    if not waiting:
        raise Conflict(f"wave {wave_id} has no planned system left to execute", wave_status=wave.status)
    unplaced = [s.code for s in waiting if s.target_zone is None]
    if unplaced:
        raise Conflict(f"systems without a target zone (assess them first): {', '.join(unplaced)}")
    submitted: dict[str, list[str]] = {}
    for system in waiting:
        on_behalf = on_behalf_of(caller, system)
        justification = (
            f"migration of legacy system {system.code} ({system.name}): plan {plan.id}, wave {wave.number}"
        )
        for submission in submissions(system, image=image, justification=justification):
            request, _ = requests.submit(session, on_behalf, submission)
            session.add(
                MigrationRequest(
                    system_id=system.id, request_id=request.id, wave_id=wave.id, kind=request.kind
                )
            )
            submitted.setdefault(system.code, []).append(request.id)
        lifecycle.move(system, SystemStatus.provisioning, reason=f"resources requested in wave {wave.number}")
    wave.status = "executing"
    session.flush()
    audit.record(
        session,
        actor=caller.actor,
        action="migration.wave.execute",
        target_type="migration_wave",
        target_id=str(wave.id),
        detail={"plan_id": plan.id, "number": wave.number, "requests": submitted},
    )
    return wave


def requests_of(session: Session, system: LegacySystem) -> list[tuple[str, str]]:
    """(request id, status) of every resource request the system's move submitted."""
    from cloudsvc.resource_requests.models import ResourceRequest

    rows = session.execute(
        select(ResourceRequest.id, ResourceRequest.status)
        .join(MigrationRequest, MigrationRequest.request_id == ResourceRequest.id)
        .where(MigrationRequest.system_id == system.id)
        .order_by(ResourceRequest.id)
    )
    return [(row.id, row.status) for row in rows]
