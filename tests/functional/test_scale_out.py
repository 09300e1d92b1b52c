"""Scale-out: two API processes and two worker processes on one PostgreSQL database. Requests go in through
both APIs while one worker is SIGKILLed and restarted again and again; every request converges once — one
backend object per server, one `active` in its history — and the quota counters agree with the ledger."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import cast

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudsvc.db import Database
from cloudsvc.provisioning.models import ProvisionedResource, SimulatorObject
from cloudsvc.quotas import reconcile
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


class Worker:
    """A `cloudsvc worker` process that can be killed and started again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([WORKER, "worker"], env=self.env, stdout=out, stderr=out)
        while b"started" not in self.log.read_bytes():
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.02)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

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
    steady, victim = Worker(env, tmp_path / "steady.log"), Worker(env, tmp_path / "victim.log")
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
                victim.kill()
                kills += 1
                victim.start()
        deadline = time.monotonic() + 480
        while statuses(postgres).get("active", 0) < len(ids) or kills < 6:
            assert time.monotonic() < deadline, statuses(postgres)
            time.sleep(rng.uniform(0.1, 0.8))
            victim.kill()
            kills += 1
            victim.start()

        assert statuses(postgres) == {"active": len(ids)}
        with postgres.session() as session:
            objects = list(
                session.scalars(select(SimulatorObject.key).where(SimulatorObject.key.like("cs-%")))
            )
            recorded = list(session.scalars(select(ProvisionedResource)))
        assert len(objects) == len(set(objects)) == 2 * len(ids)  # one backend object per server
        assert sorted(r.request_id for r in recorded) == sorted(ids * 2)
        assert {r.state for r in recorded} == {"ready"}
        with postgres.transaction() as session:
            assert reconcile.check(session) == []  # counters match the ledger
        for index, request_id in enumerate(ids):  # each request read back through the other API
            body = worlds[(index + 1) % 2].ok(
                [one, two][(index + 1) % 2].get(f"/v1/requests/{request_id}", headers=owner)
            )
            assert [h["to_status"] for h in body["history"]].count("active") == 1
