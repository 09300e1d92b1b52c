"""The simulator's StateStore in the database, one short transaction per call (so its "objects" outlive the
process, as a real cloud's would)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from cloudsvc.db import Database, upsert
from cloudsvc.provisioning.models import SimulatorObject


class DatabaseStore:
    def __init__(self, database: Database, zone_id: int) -> None:
        self.database = database
        self.zone_id = zone_id

    def get(self, key: str) -> dict[str, Any] | None:
        with self.database.session() as session:
            value = session.scalar(
                select(SimulatorObject.value).where(
                    SimulatorObject.zone_id == self.zone_id, SimulatorObject.key == key
                )
            )
            return dict(value) if value is not None else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self.database.transaction() as session:
            # Two workers can ensure the same department's tenancy at once: an upsert, not read-then-insert.
            upsert(
                session,
                SimulatorObject,
                {"zone_id": self.zone_id, "key": key, "value": value},
                keys=["zone_id", "key"],
            )

    def delete(self, key: str) -> None:
        with self.database.transaction() as session:
            session.execute(
                delete(SimulatorObject).where(
                    SimulatorObject.zone_id == self.zone_id, SimulatorObject.key == key
                )
            )
