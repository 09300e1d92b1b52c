"""Workers die (SIGKILL, at random points) and several run at once: every request still converges exactly
once, nothing is left behind on the backend, and the quota counters agree with the ledger."""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudsvc.db import Database, utcnow
from cloudsvc.provisioning.jobs import Ledger
from cloudsvc.provisioning.models import SimulatorObject
from cloudsvc.quotas import reconcile
from tests.support import World
from tests.worker_processes import kill_workers_until, statuses


def test_killed_workers_lose_nothing_and_leave_nothing(
    client: TestClient, world: World, database: Database, tmp_path: Path
) -> None:
    world.zone("sim", build_steps=1)
    owner = world.principal("requester@dept-a")
    spec = {"vcpus": 1, "ram_mb": 512, "disk_gb": 5, "image": "kylin", "count": 2}
    ids = [world.approved(owner, zone="sim", spec=spec) for _ in range(12)]
    rng = random.Random(7)

    kills = kill_workers_until(database, "active", len(ids), rng, tmp_path / "workers.log")
    with database.session() as session:
        assert (
            len(list(session.scalars(select(SimulatorObject.key).where(SimulatorObject.key.like("cs-%")))))
            == 24
        )
    for request_id in ids:
        assert client.post(f"/v1/requests/{request_id}/decommission", headers=owner).status_code == 200
    kills += kill_workers_until(database, "decommissioned", len(ids), rng, tmp_path / "workers.log")

    assert kills >= 2
    assert statuses(database) == {"decommissioned": len(ids)}
    with database.session() as session:
        assert (
            list(session.scalars(select(SimulatorObject.key).where(SimulatorObject.key.like("cs-%")))) == []
        )
    with database.transaction() as session:
        assert reconcile.check(session) == []
    for request_id in ids:
        history = [
            h["to_status"] for h in client.get(f"/v1/requests/{request_id}", headers=owner).json()["history"]
        ]
        assert history.count("active") == 1
        assert history.count("decommissioned") == 1


def test_concurrent_claims_never_share_a_request(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    ids = {world.approved(owner, zone="sim") for _ in range(40)}
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()

    def claim_all(name: str) -> None:
        ledger = Ledger(database, name, timedelta(minutes=5))
        mine: list[str] = []
        while batch := ledger.claim(utcnow(), 3):
            mine += batch
        with lock:
            claimed[name] = mine

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [request_id for mine in claimed.values() for request_id in mine]
    assert sorted(everything) == sorted(ids)  # each claimed exactly once
