"""Principals: tokens shown once and stored hashed, separated administrator duties, delegated granting."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudsvc.db import Database
from cloudsvc.principals.models import Principal
from tests.support import World, bearer


def test_the_token_is_shown_once_and_only_its_hash_is_stored(
    client: TestClient, world: World, database: Database
) -> None:
    created = client.post(
        "/v1/principals",
        headers=world.admin,
        json={"name": "li.wei", "roles": [{"role": "viewer", "department_code": "dept-a"}]},
    ).json()
    token = created["token"]
    with database.session() as session:
        stored = session.scalars(select(Principal).where(Principal.name == "li.wei")).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(stored.__dict__)
    me = client.get("/v1/principals/me", headers=bearer(token)).json()
    assert "token" not in me
    assert me["roles"] == [{"role": "viewer", "department_code": "dept-a"}]


@pytest.mark.parametrize(
    "pair", [("system_admin", "security_admin"), ("system_admin", "auditor"), ("security_admin", "auditor")]
)
def test_the_three_administrators_are_separate_people(
    client: TestClient, world: World, pair: tuple[str, str]
) -> None:
    response = client.post(
        "/v1/principals",
        headers=world.admin,
        json={"name": "everything", "roles": [{"role": r} for r in pair]},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "roles"
    assert "三员分立" in response.json()["detail"]


def test_a_dept_admin_grants_department_roles_only_in_its_subtree(client: TestClient, world: World) -> None:
    county_admin = world.principal("dept_admin@cty-a")

    def grant(role: str, department: str | None) -> int:
        binding = {"role": role, **({"department_code": department} if department else {})}
        return client.post(
            "/v1/principals", headers=county_admin, json={"name": f"{role}-{department}", "roles": [binding]}
        ).status_code

    assert grant("requester", "dept-a") == 201
    assert grant("dept_approver", "cty-a") == 201
    assert grant("operator", "dept-a") == 403  # a cloud role
    assert grant("cloud_approver", "cty-a") == 403
    assert grant("requester", None) == 403  # cloud-wide
    assert grant("requester", "dept-b") == 404  # outside: invisible


def test_a_security_admin_grants_cloud_roles(client: TestClient, world: World) -> None:
    security = world.principal("security_admin")
    response = client.post(
        "/v1/principals", headers=security, json={"name": "ops", "roles": [{"role": "operator"}]}
    )
    assert response.status_code == 201


def test_names_are_unique(client: TestClient, world: World) -> None:
    body = {"name": "dup", "roles": [{"role": "viewer"}]}
    assert client.post("/v1/principals", headers=world.admin, json=body).status_code == 201
    response = client.post("/v1/principals", headers=world.admin, json=body)
    assert response.status_code == 409
    assert response.json()["field"] == "name"


def test_bootstrap_happens_once(client: TestClient, world: World, database: Database) -> None:
    from cloudsvc.principals import service

    with database.transaction() as session:
        assert service.bootstrap(session, "another-token-that-should-not-work") is False
    assert client.get("/v1/zones", headers=bearer("another-token-that-should-not-work")).status_code == 401
