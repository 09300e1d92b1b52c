"""Idempotency-Key: a retried POST returns the first result instead of creating a second request."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloudsvc.db import Database
from cloudsvc.resource_requests.models import IdempotencyKey, ResourceRequest
from tests.support import World, server_submission


def _count(database: Database, model: type) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_retry_returns_the_first_request(client: TestClient, world: World, database: Database) -> None:
    requester = world.principal("requester@dept-a")
    headers = {**requester, "Idempotency-Key": "order-2026-0001"}
    first = client.post("/v1/requests", headers=headers, json=server_submission())
    again = client.post("/v1/requests", headers=headers, json=server_submission())
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _count(database, ResourceRequest) == 1


def test_the_same_key_with_a_different_body_is_refused(
    client: TestClient, world: World, database: Database
) -> None:
    requester = world.principal("requester@dept-a")
    headers = {**requester, "Idempotency-Key": "k"}
    client.post("/v1/requests", headers=headers, json=server_submission())
    response = client.post("/v1/requests", headers=headers, json=server_submission(lease_days=30))
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"
    assert _count(database, ResourceRequest) == 1


def test_keys_belong_to_their_principal(client: TestClient, world: World, database: Database) -> None:
    alice, bob = world.principal("requester@dept-a"), world.principal("requester@dept-a")
    ids = {
        client.post(
            "/v1/requests", headers={**who, "Idempotency-Key": "same"}, json=server_submission()
        ).json()["id"]
        for who in (alice, bob)
    }
    assert len(ids) == 2


def test_without_a_key_each_post_is_a_new_request(
    client: TestClient, world: World, database: Database
) -> None:
    requester = world.principal("requester@dept-a")
    for _ in range(3):
        client.post("/v1/requests", headers=requester, json=server_submission())
    assert _count(database, ResourceRequest) == 3


def test_concurrent_retries_make_exactly_one_request(live_server: str, database: Database) -> None:
    """Sixteen clients send the same keyed POST at the same instant to a real server."""
    with httpx.Client(base_url=live_server, timeout=60) as http:
        world = World.build(http)  # type: ignore[arg-type]  # the same calls, over a real socket
        requester = world.principal("requester@dept-a")
    attempts = 16
    barrier = threading.Barrier(attempts)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            barrier.wait()
            return http.post(
                "/v1/requests", headers={**requester, "Idempotency-Key": "burst"}, json=server_submission()
            )

    with ThreadPoolExecutor(attempts) as pool:
        answers = list(pool.map(post, range(attempts)))
    assert [a.status_code for a in answers] == [201] * attempts, [
        a.text for a in answers if a.status_code != 201
    ]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == attempts - 1
    assert _count(database, ResourceRequest) == 1
    assert _count(database, IdempotencyKey) == 1
