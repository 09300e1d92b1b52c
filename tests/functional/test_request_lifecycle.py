"""Every legal and every illegal transition of a request, through the API and through the worker's seam.

The expected table is the issue's lifecycle written out by hand:
pending_approval → approved → provisioning → active → decommissioning → decommissioned,
with rejected, cancelled and failed as ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudsvc.db import Database
from cloudsvc.errors import IllegalTransition
from cloudsvc.resource_requests import system
from tests.support import World

STATES = [
    "pending_department",
    "pending_cloud",
    "approved",
    "provisioning",
    "active",
    "decommissioning",
    "decommissioned",
    "rejected",
    "cancelled",
    "failed",
]
ACTIONS = [
    "approve",
    "reject",
    "cancel",
    "decommission",
    "begin_provisioning",
    "mark_active",
    "mark_failed",
    "mark_decommissioned",
]
# (state, action) → resulting status; any pair not listed must be refused and change nothing.
LEGAL = {
    ("pending_department", "approve"): "pending_approval",
    ("pending_department", "reject"): "rejected",
    ("pending_department", "cancel"): "cancelled",
    ("pending_cloud", "approve"): "approved",
    ("pending_cloud", "reject"): "rejected",
    ("pending_cloud", "cancel"): "cancelled",
    ("approved", "cancel"): "cancelled",
    ("approved", "begin_provisioning"): "provisioning",
    ("approved", "mark_failed"): "failed",
    ("provisioning", "mark_active"): "active",
    ("provisioning", "mark_failed"): "failed",
    ("active", "decommission"): "decommissioning",
    ("decommissioning", "mark_decommissioned"): "decommissioned",
    ("decommissioning", "mark_failed"): "failed",
}


class Driver:
    def __init__(self, world: World, database: Database) -> None:
        self.world, self.client, self.database = world, world.client, database
        self.owner = world.principal("requester@dept-a")
        self.dept_approver = world.principal("dept_approver@cty-a")
        self.cloud_approver = world.principal("cloud_approver")

    def _system(self, step: Callable[..., object], request_id: str, **kwargs: str) -> None:
        with self.database.transaction() as session:
            step(session, request_id, **kwargs)

    def to(self, state: str) -> str:
        """A new request, driven to ``state``."""
        rid: str = self.world.submit(self.owner)["id"]
        path = {
            "pending_department": [],
            "pending_cloud": ["approve_d"],
            "approved": ["approve_d", "approve_c"],
            "provisioning": ["approve_d", "approve_c", "begin_provisioning"],
            "active": ["approve_d", "approve_c", "begin_provisioning", "mark_active"],
            "decommissioning": [
                "approve_d",
                "approve_c",
                "begin_provisioning",
                "mark_active",
                "decommission",
            ],
            "decommissioned": [
                "approve_d",
                "approve_c",
                "begin_provisioning",
                "mark_active",
                "decommission",
                "mark_decommissioned",
            ],
            "rejected": ["reject"],
            "cancelled": ["cancel"],
            "failed": ["approve_d", "approve_c", "begin_provisioning", "mark_failed"],
        }[state]
        for step in path:
            if step == "approve_d":
                assert self.act("approve", rid, state_hint="pending_department") == 200
            elif step == "approve_c":
                assert self.act("approve", rid, state_hint="pending_cloud") == 200
            else:
                assert self.act(step, rid, state_hint=state) == 200
        return rid

    def act(self, action: str, rid: str, *, state_hint: str) -> int:
        """Perform ``action``; return the HTTP status (system steps: 200, or 409 on IllegalTransition)."""
        c = self.client
        if action in ("approve", "reject"):
            approver = self.cloud_approver if state_hint == "pending_cloud" else self.dept_approver
            body = {"reason": "not needed"} if action == "reject" else {"comment": "ok"}
            return c.post(f"/v1/requests/{rid}/{action}", headers=approver, json=body).status_code
        if action in ("cancel", "decommission"):
            return c.post(
                f"/v1/requests/{rid}/{action}", headers=self.owner, json={"reason": "done"}
            ).status_code
        step = getattr(system, action)
        try:
            if action == "mark_failed":
                self._system(step, rid, reason="backend said no")
            else:
                self._system(step, rid)
        except IllegalTransition:
            return 409
        return 200

    def get(self, rid: str) -> dict[str, Any]:
        return self.world.ok(self.client.get(f"/v1/requests/{rid}", headers=self.owner))


@pytest.mark.parametrize("state", STATES)
def test_every_action_from_every_state(
    state: str, client: TestClient, world: World, database: Database
) -> None:
    driver = Driver(world, database)
    wrong = []
    for action in ACTIONS:
        rid = driver.to(state)
        before = driver.get(rid)
        code = driver.act(action, rid, state_hint=state)
        after = driver.get(rid)
        if (state, action) in LEGAL:
            if code != 200 or after["status"] != LEGAL[state, action]:
                wrong.append(f"{action}: expected {LEGAL[state, action]}, got {code} / {after['status']}")
            elif len(after["history"]) != len(before["history"]) + 1:
                wrong.append(f"{action}: not recorded in the history")
        else:
            if code != 409:
                wrong.append(f"{action}: expected 409 refusal, got {code}")
            if after != before:
                wrong.append(f"{action}: a refused transition changed the request")
    assert not wrong, f"from {state}:\n" + "\n".join(wrong)


def test_an_illegal_transition_says_the_current_state(
    client: TestClient, world: World, database: Database
) -> None:
    driver = Driver(world, database)
    rid = driver.to("active")
    response = client.post(f"/v1/requests/{rid}/cancel", headers=driver.owner)
    assert response.status_code == 409
    problem = response.json()
    assert problem["current_status"] == "active"
    assert problem["wanted_status"] == "cancelled"
    assert "active" in problem["detail"]


def test_history_records_who_when_why_and_the_lease_starts_at_activation(
    client: TestClient, world: World, database: Database
) -> None:
    driver = Driver(world, database)
    rid = driver.to("active")
    request = driver.get(rid)
    history = request["history"]
    assert [(h["from_status"], h["to_status"], h["stage"]) for h in history] == [
        (None, "pending_approval", None),
        ("pending_approval", "pending_approval", "department"),
        ("pending_approval", "approved", "cloud"),
        ("approved", "provisioning", None),
        ("provisioning", "active", None),
    ]
    assert history[0]["reason"] == "web portal for the tax bureau"
    assert history[1]["reason"] == "ok"
    assert history[1]["actor_id"] is not None
    assert history[3]["actor_name"] == "system"
    assert all(h["at"] for h in history)
    assert request["lease_expires_at"] is not None
    assert request["status"] == "active"


def test_two_approvers_racing_on_one_stage_both_cannot_win(
    client: TestClient, world: World, database: Database
) -> None:
    driver = Driver(world, database)
    rid = driver.to("pending_department")
    second = world.principal("dept_approver@dept-a")
    first_answer = client.post(f"/v1/requests/{rid}/approve", headers=driver.dept_approver, json={})
    second_answer = client.post(f"/v1/requests/{rid}/approve", headers=second, json={})
    assert first_answer.status_code == 200
    assert second_answer.status_code == 409
    assert second_answer.json()["approval_stage"] == "cloud"
