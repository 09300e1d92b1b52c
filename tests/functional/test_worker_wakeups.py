"""Workers are woken by PostgreSQL notifications when a request becomes work: with an idle poll of an hour,
an approved or decommissioned request is still moved at once, also after the listening connection was
cut; and a worker told to stop stops without waiting out its poll. (PostgreSQL only: SQLite has no
notifications, and the embedded default polls.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from cloudsvc.app import create_app
from cloudsvc.config import Settings
from cloudsvc.db import Database
from cloudsvc.provisioning import wakeups
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from tests.support import BOOTSTRAP_TOKEN, World

AN_HOUR = 3600.0
PATIENCE = 60.0  # seconds a test waits for a status before it fails: far below the idle poll


@pytest.fixture
def world(postgres: Database) -> Iterator[World]:
    settings = Settings(
        database_url=postgres.url,
        bootstrap_token=BOOTSTRAP_TOKEN,
        environment="test",
        worker_in_process=False,
    )
    with TestClient(create_app(settings, postgres)) as client:
        yield World.build(client)


@pytest.fixture
def sleepy_worker(postgres: Database) -> Iterator[threading.Thread]:
    """A worker whose idle poll is an hour, running until the test ends."""
    worker = Worker(postgres, WorkerSettings(idle_sleep=AN_HOUR, recheck=timedelta(seconds=0.05)))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    yield thread
    stop.set()
    thread.join(timeout=PATIENCE)
    assert not thread.is_alive(), "the worker did not stop when told to"


def wait_for(world: World, request_id: str, status: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while (now := world.client.get(f"/v1/requests/{request_id}", headers=world.admin).json())[
        "status"
    ] != status:
        assert time.monotonic() < deadline, now
        time.sleep(0.05)


def test_approved_and_decommissioned_requests_are_moved_without_waiting_for_the_poll(
    world: World, sleepy_worker: threading.Thread
) -> None:
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner)
    wait_for(world, request_id, "active")
    world.ok(world.client.post(f"/v1/requests/{request_id}/decommission", headers=owner))
    wait_for(world, request_id, "decommissioned")


def test_a_cut_listening_connection_comes_back(
    world: World, postgres: Database, sleepy_worker: threading.Thread
) -> None:
    owner = world.principal("requester@dept-a")
    wait_for(world, world.approved(owner), "active")  # the listener is up
    with postgres.transaction() as session:
        cut = session.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query = :listen"
            ),
            {"listen": f"LISTEN {wakeups.CHANNEL}"},
        )
    assert cut == 1
    wait_for(world, world.approved(owner), "active")


def test_only_requests_becoming_work_are_announced(world: World, postgres: Database) -> None:
    owner = world.principal("requester@dept-a")
    conninfo = postgres.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"LISTEN {wakeups.CHANNEL}")

        def announced() -> int:
            return len(list(conn.notifies(timeout=0.5)))

        request_id = world.submit(owner)["id"]
        world.approve(world.principal("dept_approver@prov"), request_id)
        assert announced() == 0  # submitted, then through its first stage: still nothing to do
        world.approve(world.principal("cloud_approver"), request_id)
        assert announced() == 1
        world.ok(world.client.post(f"/v1/requests/{request_id}/cancel", headers=owner, json={}))
        assert announced() == 0
