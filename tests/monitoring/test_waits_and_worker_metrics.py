"""The figures the stuck-request, backlog, lease and failure-rate alerts read, from real requests: how
long the oldest request has sat in its status, the worker's queue and leases, and how provisionings
ended. On both databases."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from cloudsvc.db import Database, utcnow
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from cloudsvc.resource_requests.models import ResourceRequest
from tests.monitoring.scrape import Samples, parse, value
from tests.support import World

HOUR = 3600.0
SLACK = 600.0  # the scrape happens a little after the back-dating, on a slow machine perhaps


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


def backdate(database: Database, request_id: str, seconds: float) -> None:
    """As if everything that happened to the request happened ``seconds`` earlier."""
    with database.transaction() as session:
        earlier = timedelta(seconds=seconds)
        request = session.get_one(ResourceRequest, request_id)
        request.created_at -= earlier
        request.updated_at -= earlier
        for transition in request.transitions:
            transition.at -= earlier
        session.flush()
        # updated_at moves on by itself at each update: put it back where the history says.
        session.execute(
            update(ResourceRequest)
            .where(ResourceRequest.id == request_id)
            .values(updated_at=request.updated_at)
        )


def between(found: float | None, low: float) -> bool:
    return found is not None and low <= found < low + SLACK


def test_the_oldest_request_in_each_status_is_timed_from_its_last_transition(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    long_pending = world.submit(owner)["id"]
    world.submit(owner)  # pending too, but just now: the oldest one counts
    long_approved = world.approved(owner, zone="sim")
    backdate(database, long_pending, 3 * HOUR)
    backdate(database, long_approved, 2 * HOUR)

    samples = scrape(client)
    oldest = "cloudsvc_requests_oldest_in_status_seconds"
    assert between(value(samples, oldest, status="pending_approval"), 3 * HOUR)
    assert between(value(samples, oldest, status="approved"), 2 * HOUR)
    assert value(samples, oldest, status="provisioning") is None  # none in it: no sample
    # Due for the worker since it was approved, two hours ago.
    assert value(samples, "cloudsvc_worker_queue_depth") == 1
    assert between(value(samples, "cloudsvc_worker_queue_oldest_age_seconds"), 2 * HOUR)


def test_leases_held_expired_and_how_far_past_expiry(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("sim")
    owner = world.principal("requester@dept-a")
    held, abandoned = world.approved(owner, zone="sim"), world.approved(owner, zone="sim")
    now = utcnow()
    with database.transaction() as session:  # as a live worker and a dead one leave them
        for request_id, until in (
            (held, now + timedelta(minutes=5)),
            (abandoned, now - timedelta(minutes=20)),
        ):
            session.execute(
                update(ResourceRequest)
                .where(ResourceRequest.id == request_id)
                .values(lease_owner="worker-x", lease_until=until)
            )

    samples = scrape(client)
    assert value(samples, "cloudsvc_worker_leases") == 2
    assert value(samples, "cloudsvc_worker_leases_expired") == 1
    assert between(value(samples, "cloudsvc_worker_oldest_lease_overdue_seconds"), 20 * 60)
    assert (
        value(samples, "cloudsvc_worker_queue_depth") == 1
    )  # the expired one is due again; the held one not
    assert value(samples, "cloudsvc_worker_last_pass_timestamp_seconds") is None  # no worker ever passed

    before = utcnow().timestamp()
    worker = Worker(database, WorkerSettings())
    worker.tick()
    worker.monitor.after_pass()  # the heartbeat Worker.run gives after each claim
    samples = scrape(client)
    assert value(samples, "cloudsvc_worker_leases_expired") == 0
    last_pass = value(samples, "cloudsvc_worker_last_pass_timestamp_seconds")
    assert last_pass is not None
    assert last_pass >= before - 1


def test_provisionings_are_counted_by_how_they_ended(
    client: TestClient, world: World, database: Database
) -> None:
    world.zone("sim")
    world.zone("picky", refuse_images=["no-such-image"])
    owner = world.principal("requester@dept-a")
    for _ in range(2):
        world.approved(owner, zone="sim")
    bad = {"vcpus": 1, "ram_mb": 1024, "disk_gb": 10, "image": "no-such-image", "count": 1}
    world.approved(owner, zone="picky", spec=bad)
    assert value(scrape(client), "cloudsvc_provisionings_total", outcome="active") == 0

    worker = Worker(database, WorkerSettings())
    for _ in range(3):  # a refused create fails after a pass that cleans up
        worker.tick()
    samples = scrape(client)
    assert value(samples, "cloudsvc_provisionings_total", outcome="active") == 2
    assert value(samples, "cloudsvc_provisionings_total", outcome="failed") == 1
    assert value(samples, "cloudsvc_requests", status="failed", kind="server") == 1
