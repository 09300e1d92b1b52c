"""Hierarchical quotas through the API: limits from above, admission against every ancestor, explainable
denials, and usage that follows the request lifecycle."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudsvc.db import Database
from cloudsvc.departments.models import Department
from cloudsvc.errors import QuotaExceeded
from cloudsvc.quotas import reconcile
from cloudsvc.quotas import service as quotas
from cloudsvc.quotas.models import quota_ledger
from cloudsvc.resource_requests import system
from quotas.demand import QuotaClass
from tests.support import Headers, World, server_submission


def limits(client: TestClient, who: Headers, code: str, **values: int | None) -> Any:
    return client.put(f"/v1/departments/{code}/quotas", headers=who, json={"limits": values})


def usage(client: TestClient, world: World, code: str, cls: str = "vcpus") -> dict[str, Any]:
    body = world.ok(client.get(f"/v1/departments/{code}/quotas", headers=world.admin))
    result: dict[str, Any] = body["classes"][cls]
    return result


def servers(vcpus: int, count: int = 1) -> dict[str, Any]:
    return {"vcpus": vcpus, "ram_mb": 1024, "disk_gb": 10, "image": "kylin", "count": count}


def activate(database: Database, request_id: str) -> None:
    with database.transaction() as session:
        system.begin_provisioning(session, request_id)
    with database.transaction() as session:
        system.mark_active(session, request_id)


def test_a_request_must_fit_under_every_ancestor(client: TestClient, world: World) -> None:
    world.ok(limits(client, world.admin, "prov", vcpus=100))
    world.ok(limits(client, world.admin, "city-a", vcpus=10))
    requester = world.principal("requester@dept-a")
    assert (
        client.post("/v1/requests", headers=requester, json=server_submission(spec=servers(6))).status_code
        == 201
    )
    denied = client.post("/v1/requests", headers=requester, json=server_submission(spec=servers(6)))
    assert denied.status_code == 409
    problem = denied.json()
    assert problem["type"] == "urn:cloudsvc:problem:quota-exceeded"
    assert problem["shortfalls"] == [
        {
            "department_code": "city-a",
            "quota_class": "vcpus",
            "requested": 6,
            "limit": 10,
            "in_use": 0,
            "reserved": 6,
            "available": 4,
            "short_by": 2,
        }
    ]
    assert "city-a" in problem["detail"]
    assert "vcpus" in problem["detail"]
    assert usage(client, world, "city-a")["reserved"] == 6  # the denied one left nothing behind


def test_counters_roll_up_and_headroom_names_the_tightest_ancestor(client: TestClient, world: World) -> None:
    world.ok(limits(client, world.admin, "prov", vcpus=100))
    world.ok(limits(client, world.admin, "city-a", vcpus=20))
    world.ok(limits(client, world.principal("dept_admin@city-a"), "cty-a", vcpus=15))
    world.submit(world.principal("requester@dept-a"), spec=servers(4, count=2))
    dept = usage(client, world, "dept-a")
    assert (dept["limit"], dept["reserved"], dept["available"]) == (None, 8, None)
    assert (dept["headroom"], dept["headroom_department"]) == (7, "cty-a")
    assert usage(client, world, "prov")["reserved"] == 8
    assert usage(client, world, "city-b")["reserved"] == 0
    servers_row = usage(client, world, "cty-a", "servers")
    assert (servers_row["reserved"], servers_row["headroom"]) == (2, None)


def test_usage_follows_the_lifecycle(client: TestClient, world: World, database: Database) -> None:
    requester = world.principal("requester@dept-a")
    approvers = (world.principal("dept_approver@prov"), world.principal("cloud_approver"))
    kept, rejected, cancelled = (world.submit(requester, spec=servers(2))["id"] for _ in range(3))
    assert usage(client, world, "prov")["reserved"] == 6
    client.post(f"/v1/requests/{rejected}/reject", headers=approvers[0], json={"reason": "no"})
    client.post(f"/v1/requests/{cancelled}/cancel", headers=requester)
    assert usage(client, world, "prov")["reserved"] == 2
    for approver in approvers:
        world.approve(approver, kept)
    activate(database, kept)
    assert (usage(client, world, "prov")["reserved"], usage(client, world, "prov")["in_use"]) == (0, 2)
    client.post(f"/v1/requests/{kept}/decommission", headers=requester)
    assert usage(client, world, "prov")["in_use"] == 2  # still there until the worker removes it
    with database.transaction() as session:
        system.mark_decommissioned(session, kept)
    assert (usage(client, world, "prov")["reserved"], usage(client, world, "prov")["in_use"]) == (0, 0)
    with database.transaction() as session:
        assert reconcile.check(session) == []


def test_failure_releases_what_the_request_held(client: TestClient, world: World, database: Database) -> None:
    request_id = world.submit(world.principal("requester@dept-a"), spec=servers(3))["id"]
    for approver in (world.principal("dept_approver@prov"), world.principal("cloud_approver")):
        world.approve(approver, request_id)
    with database.transaction() as session:
        system.begin_provisioning(session, request_id)
    with database.transaction() as session:
        system.mark_failed(session, request_id, reason="no host")
    assert usage(client, world, "dept-a")["reserved"] == 0


def test_limits_are_set_from_above_and_never_exceed_the_parents(client: TestClient, world: World) -> None:
    world.ok(limits(client, world.admin, "city-a", vcpus=50))
    own_admin = world.principal("dept_admin@cty-a")
    assert limits(client, own_admin, "cty-a", vcpus=10).status_code == 403  # not its own
    assert limits(client, own_admin, "dept-a", vcpus=10).status_code == 200
    too_much = limits(client, world.principal("dept_admin@city-a"), "cty-a", vcpus=60)
    assert too_much.status_code == 422
    assert too_much.json()["field"] == "limits.vcpus"
    assert too_much.json()["parent_code"] == "city-a"
    assert limits(client, world.principal("dept_admin@city-a"), "cty-a", vcpus=None).status_code == 200
    assert limits(client, world.principal("system_admin@city-a"), "city-a", vcpus=5).status_code == 403
    assert limits(client, world.principal("system_admin@city-a"), "prov", vcpus=5).status_code == 404


def test_lowering_below_use_blocks_growth_only(client: TestClient, world: World) -> None:
    requester = world.principal("requester@dept-a")
    world.submit(requester, spec=servers(8))
    world.ok(limits(client, world.admin, "city-a", vcpus=4))
    assert usage(client, world, "city-a")["available"] == -4
    assert (
        client.post("/v1/requests", headers=requester, json=server_submission(spec=servers(1))).status_code
        == 409
    )
    volume = server_submission(kind="volume", spec={"size_gb": 10})  # another class still fits
    assert client.post("/v1/requests", headers=requester, json=volume).status_code == 201


def test_dry_run_says_whether_and_where(client: TestClient, world: World) -> None:
    world.ok(limits(client, world.admin, "cty-a", volume_gb=100))
    viewer = world.principal("viewer@dept-a")
    fits = client.post(
        "/v1/quotas/check",
        headers=viewer,
        json={"department_code": "dept-a", "kind": "volume", "spec": {"size_gb": 100}},
    ).json()
    assert fits == {"fits": True, "demand": {"volumes": 1, "volume_gb": 100}, "shortfalls": []}
    short = client.post(
        "/v1/quotas/check",
        headers=viewer,
        json={"department_code": "dept-a", "kind": "volume", "spec": {"size_gb": 130}},
    ).json()
    assert short["fits"] is False
    assert [(s["department_code"], s["quota_class"], s["short_by"]) for s in short["shortfalls"]] == [
        ("cty-a", "volume_gb", 30)
    ]
    hidden = client.post(
        "/v1/quotas/check",
        headers=viewer,
        json={"department_code": "dept-b", "kind": "volume", "spec": {"size_gb": 1}},
    )
    assert hidden.status_code == 404


def test_drift_is_reported_and_repaired(client: TestClient, world: World, database: Database) -> None:
    world.submit(world.principal("requester@dept-a"), spec=servers(2))
    with database.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE quota_counters SET vcpus_reserved = vcpus_reserved + 5 WHERE stripe = 0"
        )
    with database.transaction() as session:
        drifts = reconcile.check(session, repair=True)
    assert len(drifts) == 7  # every department's vcpus
    assert {(d.counter_reserved - d.ledger_reserved) for d in drifts} == {5}
    with database.transaction() as session:
        assert reconcile.check(session) == []
    assert usage(client, world, "prov")["reserved"] == 2


def quota_change(department: str, **values: int) -> dict[str, Any]:
    return {
        "department_code": department,
        "kind": "quota",
        "spec": {"limits": values},
        "justification": "new tax system goes live",
    }


def test_a_department_asks_for_more_through_approval(client: TestClient, world: World) -> None:
    world.ok(limits(client, world.admin, "city-a", vcpus=50))
    world.ok(limits(client, world.admin, "cty-a", vcpus=10))
    world.ok(
        client.put(
            "/v1/departments/prov/approval-policy",
            headers=world.admin,
            json={
                "name": "everything small",
                "max_demand": {"vcpus": 100},
                "skip_stages": ["department", "cloud"],
            },
        )
    )
    asker = world.principal("dept_admin@cty-a")
    change = world.ok(client.post("/v1/requests", headers=asker, json=quota_change("cty-a", vcpus=40)))
    assert (change["status"], change["approval_stage"], change["zone"]) == (
        "pending_approval",
        "department",
        None,
    )
    assert change["demand"] == {}
    assert usage(client, world, "cty-a")["limit"] == 10  # nothing changes before approval
    world.approve(world.principal("dept_approver@city-a"), change["id"])
    done = world.approve(world.principal("cloud_approver"), change["id"])
    assert done["status"] == "active"
    assert [h["to_status"] for h in done["history"]][-2:] == ["provisioning", "active"]
    assert usage(client, world, "cty-a")["limit"] == 40
    refused = client.post(f"/v1/requests/{change['id']}/decommission", headers=asker)
    assert refused.status_code == 409


def test_asking_above_the_parent_is_refused_at_once(client: TestClient, world: World) -> None:
    world.ok(limits(client, world.admin, "city-a", vcpus=50))
    response = client.post(
        "/v1/requests", headers=world.principal("dept_admin@cty-a"), json=quota_change("cty-a", vcpus=80)
    )
    assert response.status_code == 422
    assert response.json()["field"] == "spec.limits.vcpus"
    assert response.json()["parent_code"] == "city-a"


def test_a_change_overtaken_by_a_lower_parent_fails_with_the_reason(client: TestClient, world: World) -> None:
    world.ok(limits(client, world.admin, "city-a", vcpus=50))
    change = world.ok(
        client.post(
            "/v1/requests", headers=world.principal("dept_admin@cty-a"), json=quota_change("cty-a", vcpus=40)
        )
    )
    world.approve(world.principal("dept_approver@city-a"), change["id"])
    world.ok(limits(client, world.admin, "city-a", vcpus=20))
    failed = world.approve(world.principal("cloud_approver"), change["id"])
    assert failed["status"] == "failed"
    assert "city-a" in failed["status_reason"]
    assert usage(client, world, "cty-a")["limit"] is None


def test_a_denied_reservation_leaves_nothing_behind(
    client: TestClient, world: World, database: Database
) -> None:
    """Even in a transaction that goes on: no ledger rows (PostgreSQL writes them before it checks)."""
    world.ok(limits(client, world.admin, "dept-a", vcpus=4))
    request_id = world.submit(world.principal("requester@dept-a"), spec=servers(3))["id"]

    def ledger(session: Session) -> list[tuple[object, ...]]:
        query = select(quota_ledger).where(quota_ledger.c.request_id == request_id)
        return sorted(tuple(row) for row in session.execute(query))

    with database.transaction() as session:
        department = session.scalars(select(Department).where(Department.code == "dept-a")).one()
        before = ledger(session)
        with pytest.raises(QuotaExceeded):
            quotas.reserve(
                session,
                request_id=request_id,
                department=department,
                demand={QuotaClass.ram_mb: 1, QuotaClass.vcpus: 2},
            )
        assert ledger(session) == before
        assert reconcile.check(session) == []  # nor any counter moved
