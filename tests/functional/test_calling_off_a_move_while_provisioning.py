"""A move whose resources cannot all be had (a request refused, say) is called off while provisioning: its
waiting requests are cancelled and its active ones decommissioned, so the department's quota comes back,
and the system ends rolled_back, ready to be assessed again. A request in the middle of being provisioned
cannot be interrupted: the call is refused and changes nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from cloudsvc.db import Database
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from cloudsvc.resource_requests.models import ResourceRequest
from tests.migration_support import executed_system, settle_requests
from tests.support import Headers, World


def statuses(client: TestClient, who: Headers, ids: list[str]) -> dict[str, str]:
    return {rid: World.ok(client.get(f"/v1/requests/{rid}", headers=who))["status"] for rid in ids}


def call_off(client: TestClient, ops: Headers, reason: str) -> Any:
    return client.post(
        "/v1/migration/systems/crm:recover", headers=ops, json={"action": "rollback", "reason": reason}
    )


def test_a_refused_move_is_called_off_and_gives_its_quota_back(
    client: TestClient, world: World, database: Database
) -> None:
    ops = world.principal("operator", name="ops.li")
    ids = executed_system(client, ops)["request_ids"]
    kinds = {World.ok(client.get(f"/v1/requests/{rid}", headers=ops))["kind"]: rid for rid in ids}
    server, volume, bandwidth = kinds["server"], kinds["volume"], kinds["bandwidth"]
    settle_requests(world, database, [server])  # active
    refused = client.post(
        f"/v1/requests/{volume}/reject",
        headers=world.principal("dept_approver@prov"),
        json={"reason": "no budget for storage this year"},
    )
    assert refused.status_code == 200, refused.text
    before = statuses(client, ops, ids)
    assert before == {server: "active", volume: "rejected", bandwidth: "pending_approval"}

    # While one of them is being provisioned, nothing is called off.
    with database.transaction() as session:
        session.execute(
            update(ResourceRequest).where(ResourceRequest.id == bandwidth).values(status="provisioning")
        )
    busy = call_off(client, ops, "storage refused")
    assert busy.status_code == 409
    assert f"{bandwidth} (provisioning)" in busy.json()["detail"]
    assert World.ok(client.get("/v1/migration/systems/crm", headers=ops))["status"] == "provisioning"
    with database.transaction() as session:
        session.execute(
            update(ResourceRequest).where(ResourceRequest.id == bandwidth).values(status="pending_approval")
        )
    assert statuses(client, ops, ids) == before

    assert call_off(client, ops, "").status_code == 422
    result = World.ok(call_off(client, ops, "storage refused"))
    assert result["status"] == "rolled_back"
    assert result["status_reason"] == "move called off by ops.li while provisioning: storage refused"
    assert statuses(client, ops, ids) == {
        server: "decommissioning",
        volume: "rejected",
        bandwidth: "cancelled",
    }
    Worker(database, WorkerSettings()).tick()  # the server goes from the simulator zone
    assert statuses(client, ops, [server]) == {server: "decommissioned"}
    quotas = World.ok(client.get("/v1/departments/dept-a/quotas", headers=world.admin))["classes"]
    assert {(c, q["in_use"], q["reserved"]) for c, q in quotas.items()} == {(c, 0, 0) for c in quotas}

    events = World.ok(client.get("/v1/audit?limit=500", headers=world.principal("auditor")))["items"]
    [called_off] = [e for e in events if e["action"] == "migration.move.call_off"]
    assert called_off["target_id"] == "crm"
    assert (called_off["detail"]["cancelled"], called_off["detail"]["decommissioned"]) == (
        [bandwidth],
        [server],
    )
    assert called_off["detail"]["reason"] == "storage refused"
    # Rolled back, it may be assessed and planned again.
    again = World.ok(client.post("/v1/migration/systems/crm:assess", headers=ops))
    assert again["status"] == "assessed"
    # Only a rollback calls a move off: there is nothing to resume.
    resume = client.post(
        "/v1/migration/systems/crm:recover", headers=ops, json={"action": "resume", "reason": "x"}
    )
    assert resume.status_code == 409
