"""The audit trail records every state-changing call, and any change to a stored row is detected."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from cloudsvc.db import Database
from tests.support import Headers, World, server_submission


def _activity(client: TestClient, world: World) -> Headers:
    """A little history: a request submitted and approved, one refused call; returns an auditor."""
    requester = world.principal("requester@dept-a")
    approver = world.principal("dept_approver@dept-a")
    request_id = world.submit(requester)["id"]
    world.approve(approver, request_id)
    client.post(
        "/v1/zones",
        headers=requester,
        json={"name": "x", "backend": "simulator", "network": "extranet", "mlps_level": 1},
    )
    return world.principal("auditor")


def _verify(client: TestClient, auditor: Headers) -> dict[str, object]:
    response = client.get("/v1/audit/verify", headers=auditor)
    assert response.status_code == 200
    result: dict[str, object] = response.json()
    return result


def test_an_untouched_trail_verifies(client: TestClient, world: World) -> None:
    auditor = _activity(client, world)
    result = _verify(client, auditor)
    assert result["ok"] is True
    assert result["first_bad_event"] is None
    # bootstrap + 7 departments + 2 zones + 3 principals + submit + approve + the refused zone
    assert result["events"] == 16


def test_every_change_and_every_refusal_is_recorded(client: TestClient, world: World) -> None:
    requester = world.principal("requester@dept-a")
    ok = client.post(
        "/v1/requests", headers={**requester, "X-Request-ID": "trace-ok"}, json=server_submission()
    )
    denied = client.post(
        "/v1/zones",
        headers={**requester, "X-Request-ID": "trace-denied"},
        json={"name": "z9", "backend": "simulator", "network": "extranet", "mlps_level": 1},
    )
    invalid = client.post(
        "/v1/requests",
        headers={**requester, "X-Request-ID": "trace-bad"},
        json=server_submission(lease_days=0),
    )
    assert (ok.status_code, denied.status_code, invalid.status_code) == (201, 403, 422)
    assert ok.headers["x-request-id"] == "trace-ok"
    auditor = world.principal("auditor")
    events = client.get("/v1/audit", headers=auditor, params={"limit": 500}).json()["items"]
    by_trace = {e["http_request_id"]: e for e in events if e["http_request_id"]}
    assert by_trace["trace-ok"]["action"] == "request.submit"
    assert by_trace["trace-ok"]["outcome"] == "success"
    assert by_trace["trace-ok"]["target_id"] == ok.json()["id"]
    assert by_trace["trace-denied"]["outcome"] == "denied"
    assert by_trace["trace-denied"]["action"] == "zones.create"
    assert by_trace["trace-bad"]["outcome"] == "rejected"
    assert by_trace["trace-bad"]["detail"]["status"] == 422
    assert {by_trace[t]["actor_id"] for t in ("trace-ok", "trace-denied", "trace-bad")} == {
        client.get("/v1/principals/me", headers=requester).json()["id"]
    }


def test_audit_can_be_filtered_and_paged(client: TestClient, world: World) -> None:
    auditor = _activity(client, world)
    approvals = client.get("/v1/audit", headers=auditor, params={"action": "request.approve"}).json()["items"]
    assert [e["action"] for e in approvals] == ["request.approve"]
    seen, cursor = [], None
    while True:
        page = client.get(
            "/v1/audit", headers=auditor, params={"limit": 7, **({"cursor": cursor} if cursor else {})}
        )
        body = page.json()
        seen += [e["id"] for e in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == _verify(client, auditor)["events"]


TAMPERINGS = {
    "detail rewritten": 'UPDATE audit_events SET detail = \'{"stage": "cloud"}\' WHERE id = 5',
    "actor renamed": "UPDATE audit_events SET actor_name = 'somebody else' WHERE id = 5",
    "outcome flipped": "UPDATE audit_events SET outcome = 'denied' WHERE id = 5",
    "row deleted": "DELETE FROM audit_events WHERE id = 5",
    "hash replaced": f"UPDATE audit_events SET hash = '{'a' * 64}' WHERE id = 5",
}


@pytest.mark.parametrize("how", list(TAMPERINGS))
def test_changing_a_stored_row_is_detected(
    client: TestClient, world: World, database: Database, how: str
) -> None:
    auditor = _activity(client, world)
    assert _verify(client, auditor)["ok"] is True
    with database.engine.begin() as connection:
        assert connection.execute(text(TAMPERINGS[how])).rowcount == 1
    result = _verify(client, auditor)
    assert result["ok"] is False
    assert result["first_bad_event"] == 5


def test_deleting_the_newest_events_is_detected(client: TestClient, world: World, database: Database) -> None:
    auditor = _activity(client, world)
    with database.engine.begin() as connection:
        last = connection.execute(text("SELECT max(id) FROM audit_events")).scalar_one()
        connection.execute(text("DELETE FROM audit_events WHERE id >= :id"), {"id": last - 1})
    result = _verify(client, auditor)
    assert result["ok"] is False
    assert result["first_bad_event"] == last - 1


def test_rewriting_the_whole_tail_consistently_still_disagrees_with_the_head(
    client: TestClient, world: World, database: Database
) -> None:
    auditor = _activity(client, world)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE audit_chain_head SET last_hash = :h"), {"h": "f" * 64})
    assert _verify(client, auditor)["ok"] is False


def test_only_cloud_wide_auditors_read_the_trail(client: TestClient, world: World) -> None:
    for role in ("system_admin", "security_admin", "operator", "auditor@city-a"):
        assert client.get("/v1/audit", headers=world.principal(role)).status_code == 403
