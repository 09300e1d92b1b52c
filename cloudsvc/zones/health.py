"""Asking a zone's driver whether the zone answers, and remembering the answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from cloudsvc.db import Database, upsert, utcnow
from cloudsvc.provisioning import baseline
from cloudsvc.provisioning.models import ZoneHealth
from cloudsvc.provisioning.store import DatabaseStore
from cloudsvc.zones.models import Zone
from provisioners import registry
from provisioners.base import DriverError


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str | None
    checked_at: datetime


def ask(database: Database, zone: Zone) -> Health:
    """Call the driver's check() now. Hold no transaction while calling it: it may take a while."""
    try:
        registry.load(
            zone.backend, baseline.driver_settings(zone.settings), store=DatabaseStore(database, zone.id)
        ).check()
    except DriverError as exc:
        return Health(ok=False, message=f"{type(exc).__name__}: {exc}", checked_at=utcnow())
    return Health(ok=True, message=None, checked_at=utcnow())


def remember(session: Session, zone: Zone, health: Health) -> None:
    # Several API processes and workers may probe the same zone at once.
    values = {"zone_id": zone.id, "ok": health.ok, "message": health.message, "checked_at": health.checked_at}
    upsert(session, ZoneHealth, values, keys=["zone_id"])


def probe(database: Database, zone: Zone) -> Health:
    """Ask, and store the answer in a transaction of its own."""
    health = ask(database, zone)
    with database.transaction() as session:
        remember(session, zone, health)
    return health


def last_known(session: Session, zone: Zone) -> Health | None:
    row = session.get(ZoneHealth, zone.id)
    return Health(row.ok, row.message, row.checked_at) if row else None
