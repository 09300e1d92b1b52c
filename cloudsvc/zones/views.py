from __future__ import annotations

from fastapi import APIRouter, status

from cloudsvc.api.deps import CallerDep, SessionDep
from cloudsvc.api.params import ZoneNamePath
from cloudsvc.principals.authz import Caller, Permission
from cloudsvc.zones import service
from cloudsvc.zones.models import Zone
from cloudsvc.zones.schemas import ZoneCreate, ZoneOut

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
def get_zone(name: ZoneNamePath, session: SessionDep, caller: CallerDep) -> ZoneOut:
    return _out(service.get(session, name), caller)
