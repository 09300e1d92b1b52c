"""Zones: registered by operators, read by everyone who requests resources."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.errors import Conflict, Forbidden, InvalidInput, NotFound
from cloudsvc.principals.authz import Caller, Permission
from cloudsvc.provisioning import baseline
from cloudsvc.zones import capacity
from cloudsvc.zones.models import Zone
from cloudsvc.zones.schemas import ZoneCreate
from provisioners import registry
from provisioners.base import InvalidSettings


def by_name(session: Session, name: str) -> Zone | None:
    return session.scalars(select(Zone).where(Zone.name == name)).one_or_none()


def get(session: Session, name: str) -> Zone:
    zone = by_name(session, name)
    if zone is None:
        raise NotFound("zone", name)
    return zone


def create(session: Session, caller: Caller, data: ZoneCreate) -> Zone:
    if not caller.may_cloud_wide(Permission.zone_manage):
        raise Forbidden("only an operator or system administrator of the whole cloud may register zones")
    if by_name(session, data.name) is not None:
        raise Conflict(f"zone {data.name!r} exists", field="name")
    try:
        registry.driver_class(data.backend)
    except InvalidSettings as exc:  # no driver installed for this backend
        raise InvalidInput(str(exc), field="backend") from exc
    try:
        wanted = baseline.parse(data.settings)
        capacity.parse(data.settings)
        registry.validate(data.backend, baseline.driver_settings(data.settings))
    except InvalidSettings as exc:
        raise InvalidInput(str(exc), field=f"settings.{exc.field}") from exc
    if wanted is not None and wanted.enabled:
        _check_baseline_covers(data.mlps_level, baseline.levels(wanted))
    zone = Zone(
        name=data.name,
        backend=data.backend,
        network=data.network,
        mlps_level=data.mlps_level,
        xinchuang=data.xinchuang,
        settings=data.settings,
    )
    session.add(zone)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"zone {data.name!r} exists", field="name") from exc
    audit.record(
        session,
        actor=caller.actor,
        action="zone.create",
        target_type="zone",
        target_id=zone.name,
        detail=data.model_dump(mode="json", exclude={"settings"}),
    )
    return zone


def _check_baseline_covers(mlps_level: int, levels: set[int]) -> None:
    # The zone takes requests up to its certified level, and the play refuses a level it has no variant for
    # (after the servers were made, failing the request): refuse such a zone at once instead.
    missing = [level for level in range(1, mlps_level + 1) if level not in levels]
    if missing:
        raise InvalidInput(
            f"the baseline has no MLPS level {missing[0]} variant (it has levels "
            f"{', '.join(map(str, sorted(levels))) or 'none'}); a zone certified for level {mlps_level} "
            f"cannot run it: add playbooks/vars/mlps-level{missing[0]}.yml to the baseline project, or "
            "register the zone without the baseline",
            field="mlps_level",
        )


def list_all(session: Session) -> Sequence[Zone]:
    return session.scalars(select(Zone).order_by(Zone.name)).all()


_SECRET_WORDS = ("password", "secret", "token", "credential", "private_key", "key_data")


def redacted(settings: object) -> object:
    """Settings with every secret-looking value replaced, for display: credentials never leave the API."""
    if isinstance(settings, dict):
        return {
            key: "***" if any(word in key.lower() for word in _SECRET_WORDS) else redacted(value)
            for key, value in settings.items()
        }
    if isinstance(settings, list):
        return [redacted(item) for item in settings]
    return settings
