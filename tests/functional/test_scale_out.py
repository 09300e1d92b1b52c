"""Scale-out: two API processes and two worker processes on one PostgreSQL database. Requests go in through
both APIs while one worker is SIGKILLed and restarted again and again, each time while it holds claimed
requests (the test waits for it to hold some, and after the kill reads which requests are still leased to
the dead worker: it must have left some in mid-work). Every request converges once, counted per request:
its two backend objects and no other, one `provisioning` and one `active` in its history, one
"provisioned" step, one reserve and one activate ledger row per quota class; and the quota counters agree
with the ledger."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import cast

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudsvc.db import Database
from cloudsvc.provisioning.models import ProvisionedResource, ProvisioningStep, SimulatorObject
from cloudsvc.quotas import reconcile
from cloudsvc.quotas.models import quota_ledger
from cloudsvc.resource_requests.models import RequestTransition, ResourceRequest
from quotas.demand import QuotaClass, demand_of
from tests.support import BOOTSTRAP_TOKEN, World
from tests.worker_processes import WORKER, statuses


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def api(env: dict[str, str], log: Path) -> Iterator[str]:
    """A `cloudsvc serve` process; its base URL once /readyz says ready."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [WORKER, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError(f"{url} never became ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def leased_to(database: Database, worker_id: str) -> set[str]:
    with database.session() as session:
        return set(
            session.scalars(select(ResourceRequest.id).where(ResourceRequest.lease_owner == worker_id))
        )


class Worker:
    """A `cloudsvc worker` process that can be killed and started again."""

    def __init__(self, env: dict[str, str], log: Path, database: Database) -> None:
        self.env, self.log, self.database = env, log, database
        self.process: subprocess.Popen[bytes] | None = None
        self.worker_id = ""
        self.orphaned: list[set[str]] = []  # per kill: the requests still leased to it when it was dead

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([WORKER, "worker"], env=self.env, stdout=out, stderr=out)
        while not (started := re.search(rb"(worker-[0-9a-f]{12}) started", self.log.read_bytes())):
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.02)
        self.worker_id = started.group(1).decode()

    def kill(self, *, holding_within: float = 0) -> None:
        """SIGKILL it, once it holds a claim if it comes to hold one within ``holding_within`` seconds;
        then note what it left leased to itself (no one else can have taken those yet: leases last 5 s)."""
        assert self.process is not None
        deadline = time.monotonic() + holding_within
        while not leased_to(self.database, self.worker_id) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.orphaned.append(leased_to(self.database, self.worker_id))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def test_two_apis_and_two_workers_converge_every_request_once_while_a_worker_dies(
    postgres: Database, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CLOUDSVC_DATABASE_URL": postgres.url,
        "CLOUDSVC_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
        "CLOUDSVC_ENVIRONMENT": "test",
        "CLOUDSVC_WORKER_IN_PROCESS": "false",
        "CLOUDSVC_WORKER_LEASE_SECONDS": "5",  # short, yet longer than a step on a busy machine
        "CLOUDSVC_WORKER_IDLE_SECONDS": "0.05",
    }
    rng = random.Random(11)
    steady = Worker(env, tmp_path / "steady.log", postgres)
    victim = Worker(env, tmp_path / "victim.log", postgres)
    with ExitStack() as stack:
        first = stack.enter_context(api(env, tmp_path / "api-1.log"))  # bootstraps the admin alone
        second = stack.enter_context(api(env, tmp_path / "api-2.log"))
        one = stack.enter_context(httpx.Client(base_url=first, timeout=30))
        two = stack.enter_context(httpx.Client(base_url=second, timeout=30))
        worlds = [World.build(cast(TestClient, one)), World(cast(TestClient, two), _names=1000)]
        worlds[0].zone("sim", build_steps=2)
        owner = worlds[0].principal("requester@dept-a")
        stack.callback(steady.stop)
        stack.callback(victim.stop)
        steady.start()
        victim.start()

        spec = {"vcpus": 1, "ram_mb": 512, "disk_gb": 5, "image": "kylin", "count": 2}
        ids: list[str] = []
        kills = 0
        for i in range(24):  # through both APIs, in turn; the victim dies every few requests
            ids.append(worlds[i % 2].approved(owner, zone="sim", spec=spec))
            if i % 6 == 5:
                victim.kill(holding_within=5)
                kills += 1
                victim.start()
        deadline = time.monotonic() + 480
        while statuses(postgres).get("active", 0) < len(ids) or kills < 6:
            assert time.monotonic() < deadline, statuses(postgres)
            time.sleep(rng.uniform(0.1, 0.8))
            victim.kill(holding_within=0.5)  # late on, there may be nothing left for it to hold
            kills += 1
            victim.start()
        assert statuses(postgres) == {"active": len(ids)}
        steady.stop()
        victim.stop()

        # Non-vacuous: the victim died in the middle of work, more than once, leaving claims for the others.
        abandoned = set().union(*victim.orphaned)
        assert sum(bool(held) for held in victim.orphaned) >= 3, victim.orphaned
        assert abandoned <= set(ids)
        with postgres.session() as session:
            # each abandoned request was taken over (by the steady worker or a later victim) and moved on
            assert set(
                session.scalars(select(ResourceRequest.lease_owner).where(ResourceRequest.id.in_(abandoned)))
            ) <= {None}

        with postgres.session() as session:
            objects = list(
                session.scalars(select(SimulatorObject.key).where(SimulatorObject.key.like("cs-%")))
            )
            recorded = list(session.scalars(select(ProvisionedResource)))
            moves = Counter(
                (row.request_id, row.to_status)
                for row in session.execute(select(RequestTransition.request_id, RequestTransition.to_status))
            )
            provisioned = Counter(
                session.scalars(
                    select(ProvisioningStep.request_id).where(ProvisioningStep.step == "provisioned")
                )
            )
            ledger = Counter(
                (row.request_id, row.movement)
                for row in session.execute(select(quota_ledger.c.request_id, quota_ledger.c.movement))
            )
            amounts = {
                (row.request_id, row.movement): {cls.value: row._mapping[cls.value] for cls in QuotaClass}
                for row in session.execute(select(quota_ledger))
            }
        # once, per request: its own two backend objects, nothing else on the backend
        assert sorted(objects) == sorted(f"cs-{request_id}-{index}" for request_id in ids for index in (0, 1))
        assert sorted((r.request_id, r.index) for r in recorded) == sorted(
            (i, n) for i in ids for n in (0, 1)
        )
        assert {r.state for r in recorded} == {"ready"}
        demand = {cls.value: demand_of("server", spec).get(cls, 0) for cls in QuotaClass}
        assert any(demand.values())
        for request_id in ids:
            assert moves[(request_id, "provisioning")] == 1, request_id
            assert moves[(request_id, "active")] == 1, request_id
            assert provisioned[request_id] == 1, request_id
            for movement in ("reserve", "activate"):  # each once, never twice, never released
                assert ledger[(request_id, movement)] == 1, (request_id, movement)
                assert amounts[(request_id, movement)] == demand, (request_id, movement)
        assert sum(ledger.values()) == 2 * len(ids)
        with postgres.transaction() as session:
            assert reconcile.check(session) == []  # counters match the ledger
        for index, request_id in enumerate(ids):  # each request read back through the other API
            body = worlds[(index + 1) % 2].ok(
                [one, two][(index + 1) % 2].get(f"/v1/requests/{request_id}", headers=owner)
            )
            assert [h["to_status"] for h in body["history"]].count("active") == 1
