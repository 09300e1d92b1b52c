"""The government plans' placement rules, enforced at submission."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support import World, server_submission


@pytest.mark.parametrize(
    ("zone", "classification", "mlps_level", "status", "field"),
    [
        ("int", "classified", 4, 201, None),  # classified, intranet, within the zone's level
        ("int", "unclassified", 2, 201, None),  # unclassified systems may use the intranet too
        ("ext", "unclassified", 3, 201, None),  # at the zone's level exactly
        ("ext", "classified", 2, 422, "zone"),  # 涉密 never on the extranet
        ("ext", "unclassified", 4, 422, "mlps_level"),  # above the zone's certified level
        ("nowhere", "unclassified", 1, 422, "zone"),  # no such zone
    ],
)
def test_placement(
    client: TestClient,
    world: World,
    zone: str,
    classification: str,
    mlps_level: int,
    status: int,
    field: str | None,
) -> None:
    requester = world.principal("requester@dept-a")
    body = server_submission(zone=zone, classification=classification, mlps_level=mlps_level)
    response = client.post("/v1/requests", headers=requester, json=body)
    assert response.status_code == status, response.text
    if field:
        assert response.json()["field"] == field
        listed = client.get("/v1/requests", headers=requester).json()["items"]
        assert listed == [], "a refused request must leave nothing behind"


def test_classified_on_extranet_says_why(client: TestClient, world: World) -> None:
    requester = world.principal("requester@dept-a")
    response = client.post(
        "/v1/requests", headers=requester, json=server_submission(zone="ext", classification="classified")
    )
    assert "intranet" in response.json()["detail"]
