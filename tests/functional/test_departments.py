"""The organisation tree: levels, uniqueness, visibility and paging."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support import World


def test_levels_must_descend(client: TestClient, world: World) -> None:
    for level in ("province", "city", "county"):  # not below a county
        response = client.post(
            "/v1/departments",
            headers=world.admin,
            json={"code": f"x-{level}", "name": "X", "level": level, "parent_code": "cty-a"},
        )
        assert response.status_code == 422
        assert response.json()["field"] == "level"
    for level in ("township", "department"):
        response = client.post(
            "/v1/departments",
            headers=world.admin,
            json={"code": f"x-{level}", "name": "X", "level": level, "parent_code": "cty-a"},
        )
        assert response.status_code == 201, response.text


def test_a_department_has_no_children(client: TestClient, world: World) -> None:
    response = client.post(
        "/v1/departments",
        headers=world.admin,
        json={"code": "sub", "name": "Sub", "level": "department", "parent_code": "dept-a"},
    )
    assert response.status_code == 422


def test_codes_are_unique(client: TestClient, world: World) -> None:
    response = client.post(
        "/v1/departments",
        headers=world.admin,
        json={"code": "dept-a", "name": "Again", "level": "department", "parent_code": "cty-b"},
    )
    assert response.status_code == 409
    assert response.json()["field"] == "code"


def test_unknown_parent_is_404_naming_the_field(client: TestClient, world: World) -> None:
    response = client.post(
        "/v1/departments",
        headers=world.admin,
        json={"code": "orphan", "name": "O", "level": "county", "parent_code": "atlantis"},
    )
    assert response.status_code == 404
    assert response.json()["field"] == "parent_code"


def test_only_a_cloud_wide_admin_creates_a_root(client: TestClient, world: World) -> None:
    city_admin = world.principal("system_admin@city-a")
    body = {"code": "prov2", "name": "P2", "level": "province"}
    assert client.post("/v1/departments", headers=city_admin, json=body).status_code == 403
    assert client.post("/v1/departments", headers=world.admin, json=body).status_code == 201


def test_a_deep_tree_reads_and_lists(client: TestClient, world: World) -> None:
    client.post(
        "/v1/departments",
        headers=world.admin,
        json={"code": "town", "name": "Town", "level": "township", "parent_code": "cty-a"},
    )
    client.post(
        "/v1/departments",
        headers=world.admin,
        json={"code": "office", "name": "Office", "level": "department", "parent_code": "town"},
    )
    viewer = world.principal("viewer@city-a")
    office = client.get("/v1/departments/office", headers=viewer).json()
    assert (office["parent_code"], office["depth"], office["level"]) == ("town", 4, "department")
    codes = [d["code"] for d in client.get("/v1/departments", headers=viewer).json()["items"]]
    assert codes == sorted(["city-a", "cty-a", "dept-a", "town", "office"])


@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 100])
def test_paging_visits_every_department_once(client: TestClient, world: World, page_size: int) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": page_size, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/departments", headers=world.admin, params=params).json()
        seen += [d["code"] for d in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen)
    assert sorted(seen) == sorted(["prov", "city-a", "cty-a", "dept-a", "city-b", "cty-b", "dept-b"])


def test_children_of_a_parent(client: TestClient, world: World) -> None:
    body = client.get("/v1/departments", headers=world.admin, params={"parent_code": "prov"}).json()
    assert [d["code"] for d in body["items"]] == ["city-a", "city-b"]
