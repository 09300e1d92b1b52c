"""Running real ``cloudsvc worker`` processes in tests, and killing them."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from cloudsvc.db import Database
from cloudsvc.provisioning.models import ProvisioningStep
from cloudsvc.resource_requests.models import ResourceRequest

WORKER = str(Path(sys.executable).parent / "cloudsvc")


def statuses(database: Database) -> dict[str, int]:
    with database.session() as session:
        rows = session.execute(select(ResourceRequest.status, func.count()).group_by(ResourceRequest.status))
        return {status: count for status, count in rows}


def steps_recorded(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(ProvisioningStep)) or 0


def kill_workers_until(
    database: Database,
    done: str,
    total: int,
    rng: random.Random,
    log: Path,
    *,
    lease: float = 1,
    budget: float = 240,
    alive: tuple[float, float] = (0.05, 0.6),
) -> int:
    """Start a worker, let it work a random while (``alive`` seconds), SIGKILL it; again, until every one of
    the ``total`` requests is ``done``. Returns how many workers were killed.

    A worker killed before it recorded any step made no progress (on a busy machine a step can take longer
    than ``alive`` allows): the next one is given half as long again, so the kills stay at random points
    of the work however slow the machine is."""
    env = {
        **os.environ,
        "CLOUDSVC_DATABASE_URL": database.url,
        "CLOUDSVC_WORKER_LEASE_SECONDS": str(lease),
        "CLOUDSVC_WORKER_IDLE_SECONDS": "0.05",
    }
    kills = 0
    shortest, longest = alive
    deadline = time.monotonic() + budget
    while statuses(database).get(done, 0) < total:
        assert time.monotonic() < deadline, statuses(database)
        with log.open("wb") as out:
            process = subprocess.Popen([WORKER, "worker"], env=env, stdout=out, stderr=out)
        try:
            while b"started" not in log.read_bytes():  # imports take a while on a busy machine
                assert process.poll() is None, log.read_text()
                time.sleep(0.02)
            steps_before = steps_recorded(database)
            time.sleep(rng.uniform(shortest, longest))  # then die somewhere in the middle of its work
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        kills += 1
        if steps_recorded(database) == steps_before:
            shortest, longest = shortest * 1.5, longest * 1.5
    return kills
