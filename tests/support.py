"""Test helpers: a small province to work in, built through the API as a real operator would.

    prov (province)
    ├── city-a (city) ── cty-a (county) ── dept-a (department)
    └── city-b (city) ── cty-b (county) ── dept-b (department)

Zones: ``ext`` (extranet, MLPS 3) and ``int`` (intranet, MLPS 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

BOOTSTRAP_TOKEN = "test-bootstrap-token-0123456789abcdef"

Headers = dict[str, str]

TREE = [
    ("prov", "province", None),
    ("city-a", "city", "prov"),
    ("cty-a", "county", "city-a"),
    ("dept-a", "department", "cty-a"),
    ("city-b", "city", "prov"),
    ("cty-b", "county", "city-b"),
    ("dept-b", "department", "cty-b"),
]


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def server_submission(department: str = "dept-a", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "department_code": department,
        "kind": "server",
        "zone": "ext",
        "spec": {"vcpus": 2, "ram_mb": 4096, "disk_gb": 40, "image": "kylin-v10"},
        "classification": "unclassified",
        "mlps_level": 2,
        "justification": "web portal for the tax bureau",
    }
    body.update(overrides)
    return body


@dataclass
class World:
    client: TestClient
    admin: Headers = field(default_factory=lambda: bearer(BOOTSTRAP_TOKEN))
    _names: int = 0

    @classmethod
    def build(cls, client: TestClient) -> World:
        world = cls(client)
        for code, level, parent in TREE:
            world.ok(
                client.post(
                    "/v1/departments",
                    headers=world.admin,
                    json={"code": code, "name": code.upper(), "level": level, "parent_code": parent},
                )
            )
        for name, network, mlps in (("ext", "extranet", 3), ("int", "intranet", 4)):
            world.ok(
                client.post(
                    "/v1/zones",
                    headers=world.admin,
                    json={"name": name, "backend": "simulator", "network": network, "mlps_level": mlps},
                )
            )
        return world

    @staticmethod
    def ok(response: Any) -> dict[str, Any]:
        assert response.status_code < 300, (response.status_code, response.text)
        body: dict[str, Any] = response.json()
        return body

    def principal(self, *roles: str, name: str | None = None) -> Headers:
        """A new principal holding ``roles`` ("role" for cloud-wide, "role@dept"), as auth headers."""
        self._names += 1
        bindings = [
            {"role": r.partition("@")[0], **({"department_code": r.partition("@")[2]} if "@" in r else {})}
            for r in roles
        ]
        created = self.ok(
            self.client.post(
                "/v1/principals",
                headers=self.admin,
                json={"name": name or f"p{self._names}", "roles": bindings},
            )
        )
        return bearer(created["token"])

    def submit(self, who: Headers, department: str = "dept-a", **overrides: Any) -> dict[str, Any]:
        return self.ok(
            self.client.post("/v1/requests", headers=who, json=server_submission(department, **overrides))
        )

    def zone(self, name: str, **settings: Any) -> dict[str, Any]:
        """A simulator zone (extranet, MLPS 3) with the given simulator settings."""
        return self.ok(
            self.client.post(
                "/v1/zones",
                headers=self.admin,
                json={
                    "name": name,
                    "backend": "simulator",
                    "network": "extranet",
                    "mlps_level": 3,
                    "settings": settings,
                },
            )
        )

    def approved(self, who: Headers, department: str = "dept-a", **overrides: Any) -> str:
        """A request submitted by ``who`` and approved at both stages; its id."""
        request_id: str = self.submit(who, department, **overrides)["id"]
        if not hasattr(self, "_approvers"):
            self._approvers = (self.principal("dept_approver@prov"), self.principal("cloud_approver"))
        for approver in self._approvers:
            self.approve(approver, request_id)
        return request_id

    def approve(self, who: Headers, request_id: str) -> dict[str, Any]:
        return self.ok(self.client.post(f"/v1/requests/{request_id}/approve", headers=who, json={}))
