"""The worker tells a driver it may skip looking for a resource only on the very first attempt to make it,
and records that attempt before making it: an attempt after a lost answer (or a crash) looks first.

The lookup is a listing on nova-api that queued with the servers' own POSTs (a third of the cost
cloudsvc added in bench/provision_openstack); skipping it is safe only when no attempt can have begun.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudsvc.db import Database
from cloudsvc.provisioning.models import ProvisionedResource
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from provisioners import base
from tests.support import World


class LosesTheFirstAnswer:
    """The simulator, except that the first create's answer is lost after the object was made (a reset
    after the cloud acted); it notes what the worker told it, and what was recorded beforehand."""

    def __init__(self, driver: base.Driver, database: Database) -> None:
        self._driver, self._database = driver, database
        self.told: list[tuple[int, bool, str | None]] = []  # (index, first, recorded state before the call)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver, name)

    def create(
        self, key: base.ResourceKey, spec: base.Spec, tenancy: base.Tenancy, *, first: bool = False
    ) -> base.Observed:
        with self._database.session() as session:
            recorded = session.scalar(
                select(ProvisionedResource.state).where(
                    ProvisionedResource.request_id == key.request_id, ProvisionedResource.index == key.index
                )
            )
        self.told.append((key.index, first, recorded))
        made = self._driver.create(key, spec, tenancy, first=first)
        if len(self.told) == 1:
            raise base.TemporaryError("connection reset by peer")
        return made


def test_only_the_first_attempt_may_skip_the_look_and_it_is_recorded_first(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim")
    worker = Worker(database, WorkerSettings(retry_base=timedelta(0)))
    drivers: dict[int, LosesTheFirstAnswer] = {}
    real = worker.driver_for

    def driver_for(zone_id: int, backend: str, settings: dict[str, Any]) -> base.Driver:
        if zone_id not in drivers:
            drivers[zone_id] = LosesTheFirstAnswer(real(zone_id, backend, settings), database)
        return drivers[zone_id]  # type: ignore[return-value]

    worker.driver_for = driver_for  # type: ignore[method-assign]
    worker.tick()  # the answer is lost: retried later
    worker.tick()
    (driver,) = drivers.values()
    assert driver.told == [(0, True, "absent"), (0, False, "absent")]
    assert client.get(f"/v1/requests/{request_id}", headers=owner).json()["status"] == "active"
