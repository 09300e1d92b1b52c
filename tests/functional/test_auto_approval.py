"""Auto-approval policies skip approval stages for small requests, and the record says which policy did."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support import World, server_submission

SMALL = {"vcpus": 8, "ram_mb": 16384, "volume_gb": 500, "bandwidth_mbps": 50}


def _policy(client: TestClient, world: World, code: str, skip: list[str]) -> dict[str, object]:
    return world.ok(
        client.put(
            f"/v1/departments/{code}/approval-policy",
            headers=world.admin,
            json={"name": "small requests", "max_demand": SMALL, "skip_stages": skip},
        )
    )


def test_a_small_request_is_approved_by_policy(client: TestClient, world: World) -> None:
    policy = _policy(client, world, "city-a", ["department", "cloud"])  # inherited by dept-a
    request = world.submit(world.principal("requester@dept-a"))
    assert request["status"] == "approved"
    assert request["waived_stages"] == ["department", "cloud"]
    waived = [h for h in request["history"] if h["policy_id"] is not None]
    assert [h["stage"] for h in waived] == ["department", "cloud"]
    assert {h["policy_id"] for h in waived} == {policy["id"]}
    assert all("policy" in h["actor_name"] for h in waived)


def test_a_large_request_goes_through_both_stages(client: TestClient, world: World) -> None:
    _policy(client, world, "city-a", ["department", "cloud"])
    big = server_submission(spec={"vcpus": 4, "ram_mb": 8192, "disk_gb": 100, "image": "uos", "count": 3})
    request = world.ok(client.post("/v1/requests", headers=world.principal("requester@dept-a"), json=big))
    assert (request["status"], request["approval_stage"], request["waived_stages"]) == (
        "pending_approval",
        "department",
        [],
    )


def test_waiving_only_the_cloud_stage_approves_after_the_department(client: TestClient, world: World) -> None:
    _policy(client, world, "dept-a", ["cloud"])
    request = world.submit(world.principal("requester@dept-a"))
    assert request["approval_stage"] == "department"
    approved = world.approve(world.principal("dept_approver@dept-a"), request["id"])
    assert approved["status"] == "approved"
    assert approved["history"][-1]["stage"] == "cloud"
    assert approved["history"][-1]["policy_id"] is not None


def test_the_nearest_policy_wins(client: TestClient, world: World) -> None:
    _policy(client, world, "prov", ["department", "cloud"])
    _policy(client, world, "cty-a", ["department"])
    assert world.submit(world.principal("requester@dept-a"))["approval_stage"] == "cloud"
    assert world.submit(world.principal("requester@dept-b"), "dept-b")["status"] == "approved"


def test_a_department_cannot_waive_the_provinces_review(client: TestClient, world: World) -> None:
    dept_admin = world.principal("dept_admin@cty-a")
    body = {"name": "sneaky", "max_demand": SMALL, "skip_stages": ["cloud"]}
    response = client.put("/v1/departments/dept-a/approval-policy", headers=dept_admin, json=body)
    assert response.status_code == 403
    assert response.json()["field"] == "skip_stages"
    body["skip_stages"] = ["department"]
    assert (
        client.put("/v1/departments/dept-a/approval-policy", headers=dept_admin, json=body).status_code == 200
    )
