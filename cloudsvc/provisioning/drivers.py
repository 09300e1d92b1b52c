"""The zones' drivers, one per zone and database in a process, shared by every worker loop and usage
collector of the process: drivers are safe to share between threads, and what one remembers (tokens,
tenancies, lookups, listings) then serves them all instead of each asking the cloud again."""

from __future__ import annotations

import json
import threading
from typing import Any

from cloudsvc.db import Database
from cloudsvc.provisioning import baseline
from cloudsvc.provisioning.store import DatabaseStore
from provisioners import base, registry


class ZoneDrivers:
    """A database's zones' drivers, made on first use and kept while a zone's settings stay the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[int, tuple[str, base.Driver]] = {}  # zone id → (backend and settings, driver)

    def get(self, database: Database, zone_id: int, backend: str, settings: dict[str, Any]) -> base.Driver:
        """The zone's driver (InvalidSettings if the settings are wrong)."""
        made_from = json.dumps([backend, settings], sort_keys=True, default=str)
        with self._lock:
            kept = self._kept.get(zone_id)
        if kept is not None and kept[0] == made_from:
            return kept[1]
        driver = registry.load(
            backend, baseline.driver_settings(settings), store=DatabaseStore(database, zone_id)
        )
        with self._lock:
            kept = self._kept.get(zone_id)
            if kept is not None and kept[0] == made_from:  # another thread made one meanwhile: use that
                return kept[1]
            self._kept[zone_id] = (made_from, driver)
        return driver


def shared(database: Database) -> ZoneDrivers:
    """The drivers of ``database``'s zones in this process (gone with the Database object)."""
    return database.companion(_zone_drivers)


def _zone_drivers(_: Database) -> ZoneDrivers:
    return ZoneDrivers()
