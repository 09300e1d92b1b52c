"""A request the running worker claims again while its last step is still ending is moved once more.

A step lets its request go (due again at once while resources build) a moment before its thread ends. A
claim in that moment leased the request to this same worker, which skipped it because a thread was still
on it, and then nobody moved it until the lease ran out: two minutes of standing still, seen in
bench/provision_openstack. Here every step is held open until the loop has claimed its request again,
so the moment always comes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from cloudsvc.db import Database, utcnow
from cloudsvc.provisioning.jobs import Ledger
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from tests.support import World


class CountingLedger(Ledger):
    """Counts how often each request is claimed, and tells whoever waits for a claim."""

    def __init__(self, database: Database, worker_id: str, lease: timedelta) -> None:
        super().__init__(database, worker_id, lease)
        self.claims: Counter[str] = Counter()
        self.claimed = threading.Condition()

    def claim(self, now: datetime, limit: int) -> list[str]:
        ids = super().claim(now, limit)
        with self.claimed:
            self.claims.update(ids)
            self.claimed.notify_all()
        return ids


class LingeringWorker(Worker):
    """Ends each step only after the loop has claimed its request again (or a second has passed)."""

    def __init__(self, database: Database, settings: WorkerSettings, now: datetime) -> None:
        super().__init__(database, settings, clock=lambda: now)  # time stands still: leases never run out
        self.movers = 4  # side by side even on SQLite, where the race needs a free mover to claim with
        self.counting = CountingLedger(database, self.worker_id, settings.lease)
        self.ledger = self.counting

    def _move(self, request_id: str) -> None:
        with self.counting.claimed:
            before = self.counting.claims[request_id]
        super()._move(request_id)
        with self.counting.claimed:
            self.counting.claimed.wait_for(lambda: self.counting.claims[request_id] > before, timeout=1)


def test_a_request_released_before_its_thread_ends_still_converges(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("slow", build_steps=3)
    owner = world.principal("requester@dept-a")
    ids = [world.approved(owner, zone="slow") for _ in range(3)]
    settings = WorkerSettings(lease=timedelta(hours=1), recheck=timedelta(0), idle_sleep=0.02)
    engine = LingeringWorker(database, settings, utcnow())
    stop = threading.Event()
    running = threading.Thread(target=engine.run, args=(stop,))
    running.start()
    try:
        deadline = time.monotonic() + 60  # a generous bound, not a timing assertion: stuck means hours
        while {client.get(f"/v1/requests/{i}", headers=owner).json()["status"] for i in ids} != {"active"}:
            assert time.monotonic() < deadline, "a request was left leased and unmoved"
            time.sleep(0.05)
    finally:
        stop.set()
        running.join()
    assert all(engine.counting.claims[i] >= 4 for i in ids)  # claimed again while moving, each time
