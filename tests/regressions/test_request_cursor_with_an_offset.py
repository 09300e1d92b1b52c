"""A request-list cursor whose timestamp carries a non-UTC offset pages like its UTC twin.

SQLite compared the cursor's timestamp as text in the row-value comparison (the UTC column type was not
applied), so ``+08:00`` cursors skipped or repeated requests there.
"""

from __future__ import annotations

from datetime import timedelta, timezone

from fastapi.testclient import TestClient

from cloudsvc.pagination import decode_time_cursor, encode_cursor
from tests.support import World


def test_paging_is_the_same_whatever_offset_the_cursor_carries(client: TestClient, world: World) -> None:
    requester = world.principal("requester@dept-a")
    ids = [world.submit(requester)["id"] for _ in range(5)]
    first = client.get("/v1/requests", headers=requester, params={"limit": 2}).json()
    at, last_id = decode_time_cursor(first["next_cursor"])
    shifted = encode_cursor(at.astimezone(timezone(timedelta(hours=8))).isoformat(), last_id)
    seen = [r["id"] for r in first["items"]]
    for cursor in (first["next_cursor"], shifted):
        rest = client.get("/v1/requests", headers=requester, params={"limit": 10, "cursor": cursor}).json()
        assert seen + [r["id"] for r in rest["items"]] == list(reversed(ids))
