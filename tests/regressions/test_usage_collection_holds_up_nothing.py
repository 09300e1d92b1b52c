"""Asking backends what servers use must neither hold up provisioning nor ask about one server twice.

The worker asked about usage inside its claim loop, so a slow cloud answering diagnostics held up every
request waiting to be claimed (in bench/provision_openstack the run loops made a third of cloudsvc's calls
to nova-api while servers were being created), and each worker asked again about servers another worker
had just asked about.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudsvc.db import Database, utcnow
from cloudsvc.monitoring import backend_usage
from cloudsvc.monitoring.models import BackendUsage
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from provisioners import base
from tests.support import World

MINUTE = timedelta(seconds=60)


class HeldUsage:
    """A driver whose usage answers wait until released; everything else is the real simulator's."""

    def __init__(self, driver: base.Driver, release: threading.Event, asked: threading.Event) -> None:
        self._driver, self._release, self._asked = driver, release, asked

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver, name)

    def usage(self, key: base.ResourceKey, tenancy: base.Tenancy) -> base.ResourceUsage | None:
        self._asked.set()
        self._release.wait(timeout=120)  # longer than the test waits for provisioning
        return self._driver.usage(key, tenancy)


class SlowCloudWorker(Worker):
    def __init__(self, database: Database) -> None:
        super().__init__(database, WorkerSettings(idle_sleep=0.02))
        self.monitor.usage_every = timedelta(milliseconds=20)  # ask as soon as a server is active
        self.release, self.asked = threading.Event(), threading.Event()

    def driver_for(self, zone_id: int, backend: str, settings: dict[str, Any]) -> base.Driver:
        driver = super().driver_for(zone_id, backend, settings)
        return HeldUsage(driver, self.release, self.asked)  # type: ignore[return-value]


def _status(client: TestClient, who: dict[str, str], request_id: str) -> str:
    status: str = client.get(f"/v1/requests/{request_id}", headers=who).json()["status"]
    return status


def test_requests_are_provisioned_while_a_usage_question_hangs(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    first = world.approved(owner, zone="sim")
    engine = SlowCloudWorker(database)
    stop = threading.Event()
    running = threading.Thread(target=engine.run, args=(stop,))
    running.start()
    try:
        deadline = time.monotonic() + 60  # a generous bound, not a timing assertion
        while _status(client, owner, first) != "active":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # The first server is active, so usage is due: the collector asks, and its answer hangs.
        assert engine.asked.wait(timeout=60)
        deadline = time.monotonic() + 60
        second = world.approved(owner, zone="sim")
        while _status(client, owner, second) != "active":
            assert time.monotonic() < deadline, "provisioning waited for the usage question"
            time.sleep(0.05)
    finally:
        engine.release.set()
        stop.set()
        running.join()


def test_a_server_just_asked_about_is_not_asked_again(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    spec = {"vcpus": 2, "ram_mb": 2048, "disk_gb": 20, "image": "kylin", "count": 2}
    world.approved(owner, zone="sim", spec=spec)
    worker = Worker(database, WorkerSettings())
    worker.tick()
    asked: Counter[str] = Counter()

    def counting(zone_id: int, backend: str, settings: dict[str, Any]) -> base.Driver:
        driver = worker.driver_for(zone_id, backend, settings)
        asked[backend] += 1
        return driver

    now = utcnow()
    collect = backend_usage.collect
    # Two workers' rounds at one moment: the second finds nothing due.
    assert collect(database, now=now, limit=10, stale_after=MINUTE, drivers=counting) == 2
    assert collect(database, now=now, limit=10, stale_after=MINUTE, drivers=counting) == 0
    with database.session() as session:
        cpu = sorted(c or 0.0 for c in session.scalars(select(BackendUsage.cpu_seconds)))
    assert cpu == [2.0, 2.0]  # the simulator adds a CPU-second per vCPU each time it is asked: once each
    assert asked == {"simulator": 1}  # the worker's own driver, fetched once for the round
