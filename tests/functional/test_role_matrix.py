"""Every role × every endpoint × own / other department.

Each role is bound at county ``cty-a``. "own" targets live in ``dept-a`` (inside that subtree), "other"
targets in ``dept-b`` (a different city). The expectations are written out here by hand from the product
rules, not derived from cloudsvc's permission table, so a change to either shows up as a failure.
Outside its subtree a principal learns nothing: every department-scoped call answers 404 there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudsvc.db import Database
from cloudsvc.resource_requests import system
from tests.support import Headers, World, server_submission

ROLES = [
    "system_admin",
    "security_admin",
    "auditor",
    "cloud_approver",
    "operator",
    "dept_admin",
    "dept_approver",
    "requester",
    "viewer",
]


def expect(default: int, **by_role: int) -> dict[str, int]:
    return {role: by_role.get(role, default) for role in ROLES}


HIDDEN = expect(404)

# endpoint → (expected status for "own" target, for "other" target)
EXPECTED: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    "get_department": (expect(200), HIDDEN),
    "list_children": (expect(200), HIDDEN),
    "create_department": (expect(403, system_admin=201, dept_admin=201), HIDDEN),
    "create_principal": (expect(403, system_admin=201, security_admin=201, dept_admin=201), HIDDEN),
    "submit_request": (expect(403, dept_admin=201, requester=201), HIDDEN),
    "get_request": (expect(200, security_admin=404), HIDDEN),
    "list_requests": (expect(200, security_admin=404), HIDDEN),
    "approve_department_stage": (
        expect(403, dept_approver=200, cloud_approver=409, security_admin=404),
        HIDDEN,
    ),
    "approve_cloud_stage": (expect(403, cloud_approver=200, dept_approver=409, security_admin=404), HIDDEN),
    "reject": (expect(403, dept_approver=200, cloud_approver=409, security_admin=404), HIDDEN),
    "cancel_others_request": (expect(403, dept_admin=200, security_admin=404), HIDDEN),
    "decommission_others_request": (
        expect(403, system_admin=200, operator=200, dept_admin=200, security_admin=404),
        HIDDEN,
    ),
    "put_approval_policy": (expect(403, system_admin=200, cloud_approver=200, dept_admin=200), HIDDEN),
    "get_approval_policy": (expect(200), HIDDEN),
    "get_quotas": (expect(200), HIDDEN),
    "put_quotas": (expect(403, system_admin=200, dept_admin=200), HIDDEN),
    "check_quota": (expect(200), HIDDEN),
    # Not department-scoped: a county-level binding is not enough for the cloud-wide ones.
    "create_zone": (expect(403), expect(403)),
    "list_zones": (expect(200), expect(200)),
    "list_audit": (expect(403), expect(403)),
    "verify_audit": (expect(403), expect(403)),
    "whoami": (expect(200), expect(200)),
}


class Scenario:
    """Builds the state each endpoint needs in a target department, then calls it as the actor."""

    def __init__(self, world: World, database: Database) -> None:
        self.world, self.client, self.database = world, world.client, database
        self.requesters = {d: world.principal(f"requester@{d}") for d in ("dept-a", "dept-b")}
        self.dept_approver = world.principal("dept_approver@prov")
        self.cloud_approver = world.principal("cloud_approver")
        self.counter = 0

    def pending(self, dept: str) -> str:
        return str(self.world.submit(self.requesters[dept], dept)["id"])

    def at_cloud_stage(self, dept: str) -> str:
        request_id = self.pending(dept)
        self.world.approve(self.dept_approver, request_id)
        return request_id

    def active(self, dept: str) -> str:
        request_id = self.at_cloud_stage(dept)
        self.world.approve(self.cloud_approver, request_id)
        with self.database.transaction() as session:
            system.begin_provisioning(session, request_id)
        with self.database.transaction() as session:
            system.mark_active(session, request_id)
        return request_id

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def call(self, endpoint: str, actor: Headers, dept: str) -> Any:
        county = {"dept-a": "cty-a", "dept-b": "cty-b"}[dept]
        c = self.client
        calls: dict[str, Callable[[], Any]] = {
            "get_department": lambda: c.get(f"/v1/departments/{dept}", headers=actor),
            "list_children": lambda: c.get("/v1/departments", params={"parent_code": county}, headers=actor),
            "create_department": lambda: c.post(
                "/v1/departments",
                headers=actor,
                json={"code": self.fresh("new"), "name": "New", "level": "department", "parent_code": county},
            ),
            "create_principal": lambda: c.post(
                "/v1/principals",
                headers=actor,
                json={
                    "name": self.fresh("person"),
                    "roles": [{"role": "requester", "department_code": dept}],
                },
            ),
            "submit_request": lambda: c.post("/v1/requests", headers=actor, json=server_submission(dept)),
            "get_request": lambda: c.get(f"/v1/requests/{self.pending(dept)}", headers=actor),
            "list_requests": lambda: c.get("/v1/requests", params={"department_code": dept}, headers=actor),
            "approve_department_stage": lambda: c.post(
                f"/v1/requests/{self.pending(dept)}/approve", headers=actor, json={}
            ),
            "approve_cloud_stage": lambda: c.post(
                f"/v1/requests/{self.at_cloud_stage(dept)}/approve", headers=actor, json={}
            ),
            "reject": lambda: c.post(
                f"/v1/requests/{self.pending(dept)}/reject", headers=actor, json={"reason": "no budget"}
            ),
            "cancel_others_request": lambda: c.post(
                f"/v1/requests/{self.pending(dept)}/cancel", headers=actor
            ),
            "decommission_others_request": lambda: c.post(
                f"/v1/requests/{self.active(dept)}/decommission", headers=actor
            ),
            "put_approval_policy": lambda: c.put(
                f"/v1/departments/{dept}/approval-policy",
                headers=actor,
                json={"name": "small", "max_demand": {"vcpus": 4}, "skip_stages": ["department"]},
            ),
            "get_approval_policy": lambda: c.get(f"/v1/departments/{dept}/approval-policy", headers=actor),
            "get_quotas": lambda: c.get(f"/v1/departments/{dept}/quotas", headers=actor),
            "put_quotas": lambda: c.put(
                f"/v1/departments/{dept}/quotas", headers=actor, json={"limits": {"vcpus": 64}}
            ),
            "check_quota": lambda: c.post(
                "/v1/quotas/check",
                headers=actor,
                json={"department_code": dept, "kind": "bandwidth", "spec": {"mbps": 10}},
            ),
            "create_zone": lambda: c.post(
                "/v1/zones",
                headers=actor,
                json={
                    "name": self.fresh("zone"),
                    "backend": "simulator",
                    "network": "extranet",
                    "mlps_level": 2,
                },
            ),
            "list_zones": lambda: c.get("/v1/zones", headers=actor),
            "list_audit": lambda: c.get("/v1/audit", headers=actor),
            "verify_audit": lambda: c.get("/v1/audit/verify", headers=actor),
            "whoami": lambda: c.get("/v1/principals/me", headers=actor),
        }
        return calls[endpoint]()


@pytest.mark.parametrize("role", ROLES)
def test_role_bound_at_a_county_reaches_exactly_its_subtree(
    role: str, client: TestClient, world: World, database: Database
) -> None:
    scenario = Scenario(world, database)
    for dept in ("dept-a", "dept-b"):  # a policy to read, set by someone allowed to
        world.ok(
            client.put(
                f"/v1/departments/{dept}/approval-policy",
                headers=world.admin,
                json={"name": "baseline", "max_demand": {"vcpus": 1}, "skip_stages": ["department"]},
            )
        )
    actor = world.principal(f"{role}@cty-a")
    mismatches = []
    for endpoint, (own, other) in EXPECTED.items():
        for where, dept, expected in (("own", "dept-a", own[role]), ("other", "dept-b", other[role])):
            response = scenario.call(endpoint, actor, dept)
            if response.status_code != expected:
                mismatches.append(
                    f"{endpoint} [{where}]: expected {expected}, got {response.status_code} "
                    f"{response.text[:160]}"
                )
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"
    assert not mismatches, "\n".join(mismatches)


CLOUD_WIDE_EXPECTED = {
    "create_zone": expect(403, system_admin=201, operator=201),
    "list_audit": expect(403, auditor=200),
    "verify_audit": expect(403, auditor=200),
}


@pytest.mark.parametrize("role", ROLES)
def test_cloud_wide_binding_unlocks_zones_and_audit_only_for_their_roles(
    role: str, client: TestClient, world: World, database: Database
) -> None:
    scenario = Scenario(world, database)
    actor = world.principal(role)
    got = {endpoint: scenario.call(endpoint, actor, "dept-a").status_code for endpoint in CLOUD_WIDE_EXPECTED}
    assert got == {endpoint: table[role] for endpoint, table in CLOUD_WIDE_EXPECTED.items()}


def test_hidden_and_missing_requests_look_the_same(client: TestClient, world: World) -> None:
    outsider = world.principal("requester@dept-b")
    hidden = world.submit(world.principal("requester@dept-a"))["id"]
    missing = "00000000-0000-4000-8000-000000000000"
    answers = [client.get(f"/v1/requests/{rid}", headers=outsider) for rid in (hidden, missing)]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json()["title"] == answers[1].json()["title"]
    assert answers[0].json()["detail"].replace(hidden, "X") == answers[1].json()["detail"].replace(
        missing, "X"
    )


def test_a_requester_never_approves_its_own_request(client: TestClient, world: World) -> None:
    both = world.principal("requester@dept-a", "dept_approver@dept-a")
    request_id = world.submit(both)["id"]
    response = client.post(f"/v1/requests/{request_id}/approve", headers=both, json={})
    assert response.status_code == 403
    assert "own request" in response.json()["detail"]
    assert client.get(f"/v1/requests/{request_id}", headers=both).json()["status"] == "pending_approval"


def test_a_requester_cancels_its_own_request_but_not_a_colleagues(client: TestClient, world: World) -> None:
    mine, colleague = world.principal("requester@dept-a"), world.principal("requester@dept-a")
    request_id = world.submit(mine)["id"]
    assert client.post(f"/v1/requests/{request_id}/cancel", headers=colleague).status_code == 403
    assert client.post(f"/v1/requests/{request_id}/cancel", headers=mine).json()["status"] == "cancelled"


def test_no_token_or_a_wrong_token_is_401_everywhere(client: TestClient, world: World) -> None:
    for headers in ({}, {"Authorization": "Bearer cs_not-a-real-token"}, {"Authorization": "Basic eDp5"}):
        for method, path in (("GET", "/v1/zones"), ("POST", "/v1/requests"), ("GET", "/v1/audit")):
            response = client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
