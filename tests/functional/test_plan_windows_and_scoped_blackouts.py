"""Through the API: a system's maintenance windows decide its wave and when its cutover starts; a plan's
blackouts can be for a department's subtree or a tag; tags are inventory data the assessment reads; and
the readiness checks say whether a window is long enough for the cutover."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cloudsvc.db import Database
from tests.migration_support import import_csv, operator, plan_body, plan_violations, row
from tests.support import World

MONDAY = "2027-01-04"


def _daily_plan(**overrides: Any) -> dict[str, Any]:
    daily: dict[str, Any] = {
        "first_wave_starts": MONDAY,
        "wave_days": 1,
        "capacity": {"systems": 10, "vcpus": 1000, "storage_gb": 100_000, "cutover_hours": 100},
        "blackouts": [],
    }
    return plan_body(**{**daily, **overrides})


def test_windows_and_scoped_blackouts_shape_a_plan_of_daily_waves(
    client: TestClient, world: World, database: Database
) -> None:
    ops = operator(world)
    rows = [
        row("portal", maintenance_windows="sat 22:00-06:00"),
        row("mail", maintenance_windows=""),
        row("ledger", department="dept-b", maintenance_windows=""),
        row("claims", maintenance_windows="", tags="Tax; legacy-os"),
        row("kiosk", maintenance_windows="tue 12:00-14:00; thu 01:00-03:00", cutover_hours=1),
    ]
    World.ok(import_csv(client, ops, rows))
    codes = [r["code"] for r in rows]
    World.ok(client.post("/v1/migration/systems:assess", headers=ops, json={"codes": codes}))
    body = _daily_plan(
        systems=codes,
        blackouts=[
            {"start": MONDAY, "end": "2027-01-06", "reason": "year-end close", "departments": ["city-b"]},
            {"start": MONDAY, "end": "2027-01-07", "reason": "tax filing", "tags": ["TAX"]},
            {"start": "2027-01-05", "end": "2027-01-05", "reason": "network change"},  # everyone's
        ],
    )
    plan = World.ok(client.post("/v1/migration/plans", headers=ops, json=body))
    placed = {c["code"]: (w["number"], w["starts_on"], c) for w in plan["waves"] for c in w["systems"]}
    assert {code: number for code, (number, _, _) in placed.items()} == {
        "mail": 1,
        "kiosk": 4,  # Tuesday, wave 2, is everyone's blackout: its Thursday window then
        "ledger": 4,  # dept-b is under city-b, closed until Wednesday
        "claims": 5,  # tagged tax (in any case), closed until Thursday
        "portal": 6,  # Saturday night
    }
    starts = {code: c["cutover_starts"] for code, (_, _, c) in placed.items()}
    assert starts == {
        "mail": None,
        "kiosk": "2027-01-07T01:00:00",
        "ledger": None,
        "claims": None,
        "portal": "2027-01-09T22:00:00",
    }
    assert (
        "opens none of the maintenance windows of portal (sat 22:00-06:00)" in placed["portal"][2]["reason"]
    )
    assert "year-end close (2027-01-04..2027-01-06) for department city-b" in placed["ledger"][2]["reason"]
    assert "tax filing (2027-01-04..2027-01-07) for tag tax" in placed["claims"][2]["reason"]
    assert plan_violations(database, body, plan) == []
    assert plan == World.ok(client.get(f"/v1/migration/plans/{plan['id']}", headers=ops))


def test_a_blackout_names_departments_that_exist(client: TestClient, world: World) -> None:
    ops = operator(world)
    World.ok(import_csv(client, ops, [row("a")]))
    World.ok(client.post("/v1/migration/systems/a:assess", headers=ops))
    body = _daily_plan(
        systems=["a"], blackouts=[{"start": MONDAY, "end": MONDAY, "departments": ["nowhere"]}]
    )
    refused = client.post("/v1/migration/plans", headers=ops, json=body)
    assert refused.status_code == 404
    assert refused.json()["field"] == "blackouts"
    bad_tag = _daily_plan(systems=["a"], blackouts=[{"start": MONDAY, "end": MONDAY, "tags": ["no spaces"]}])
    malformed = client.post("/v1/migration/plans", headers=ops, json=bad_tag)
    assert malformed.status_code == 422
    assert malformed.json()["field"].startswith("blackouts")


def test_tags_are_kept_exported_and_read_by_the_assessment(client: TestClient, world: World) -> None:
    ops = operator(world)
    World.ok(
        import_csv(
            client,
            ops,
            [
                row("vm", tags="VMware; finance"),
                row("long", cutover_hours=12, maintenance_windows="sat 22:00-06:00; sun 00:00-04:00"),
                row("any", maintenance_windows=""),
            ],
        )
    )
    shown = World.ok(client.get("/v1/migration/systems/vm", headers=ops))
    assert shown["tags"] == ["finance", "vmware"]
    exported = client.get("/v1/migration/systems:export?format=csv", headers=ops)
    assert exported.text.splitlines()[0].endswith(",depends_on,tags")
    assert exported.text.splitlines()[3].endswith(",finance; vmware")
    response = client.post("/v1/migration/systems:assess", headers=ops, json={"codes": ["vm", "long", "any"]})
    assert response.status_code == 200, response.text
    assessed = {s["code"]: s for s in response.json()}
    assert assessed["vm"]["suggested_strategy"] == "relocate"  # read from the vmware tag

    def window_check(code: str) -> dict[str, Any]:
        found: dict[str, Any] = next(
            c for c in assessed[code]["readiness"]["checks"] if c["check"] == "maintenance_window"
        )
        return found

    assert window_check("long") == {
        "check": "maintenance_window",
        "ok": False,
        "detail": "its longest maintenance window (sat 22:00-06:00, 8 h) is shorter than its cutover (12 h)",
    }
    assert assessed["long"]["readiness"]["ready"] is False
    assert window_check("vm")["ok"] is True
    assert window_check("any") == {
        "check": "maintenance_window",
        "ok": True,
        "detail": "no maintenance windows: the cutover may start any time",
    }
    bad = import_csv(client, ops, [row("x", tags="two words")])
    assert bad.status_code == 422
    assert [(e["row"], e["column"]) for e in bad.json()["errors"]] == [(2, "tags")]
