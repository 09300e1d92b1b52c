from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from cloudsvc.api.deps import CallerDep, SessionDep, get_database
from cloudsvc.api.params import ZoneNamePath
from cloudsvc.db import Database
from cloudsvc.principals.authz import Caller, Permission
from cloudsvc.zones import health, service
from cloudsvc.zones.models import Zone
from cloudsvc.zones.schemas import ZoneCreate, ZoneHealthOut, ZoneOut

router = APIRouter(prefix="/v1/zones", tags=["zones"])


def _out(zone: Zone, caller: Caller) -> ZoneOut:
    # Connection settings are the operators' business; everyone else sees the zone without them.
    settings = service.redacted(zone.settings) if caller.may_cloud_wide(Permission.zone_manage) else {}
    return ZoneOut(
        name=zone.name,
        backend=zone.backend,
        network=zone.network,
        mlps_level=zone.mlps_level,
        xinchuang=zone.xinchuang,
        settings=settings,
        created_at=zone.created_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, name="zones.create")
def create_zone(body: ZoneCreate, session: SessionDep, caller: CallerDep) -> ZoneOut:
    zone = service.create(session, caller, body)
    session.commit()
    return _out(zone, caller)


@router.get("", name="zones.list")
def list_zones(session: SessionDep, caller: CallerDep) -> list[ZoneOut]:
    return [_out(zone, caller) for zone in service.list_all(session)]


@router.get("/{name}", name="zones.get")
def get_zone(
    name: ZoneNamePath,
    session: SessionDep,
    caller: CallerDep,
    database: Annotated[Database, Depends(get_database)],
    check: Annotated[
        bool, Query(description="Ask the zone's driver now instead of showing the last answer")
    ] = False,
) -> ZoneOut:
    zone = service.get(session, name)
    if check:
        session.rollback()  # end the read before a slow call (SQLite would hold its write lock throughout)
        answer = health.ask(database, zone)
        health.remember(session, zone, answer)
        session.commit()
        found: health.Health | None = answer
    else:
        found = health.last_known(session, zone)
    out = _out(zone, caller)
    if found is not None:
        out.health = ZoneHealthOut(ok=found.ok, message=found.message, checked_at=found.checked_at)
    return out
