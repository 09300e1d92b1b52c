"""Writers storing the same new simulator object at the same moment all succeed, and one value wins.

The store read and then inserted (``session.merge``), so on PostgreSQL the slower of two workers ensuring
one department's tenancy side by side failed with a unique violation on ``simulator_objects``.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from cloudsvc.db import Database
from cloudsvc.provisioning.store import DatabaseStore
from cloudsvc.zones.models import Zone
from tests.support import World

WRITERS = 6


def test_writers_racing_on_one_new_key_all_succeed(database: Database, world: World) -> None:
    with database.session() as session:
        zone_id = session.scalars(select(Zone.id).where(Zone.name == "ext")).one()
    store = DatabaseStore(database, zone_id)
    for round_ in range(20):
        key = f"tenancy/race-{round_}"
        start = threading.Barrier(WRITERS)

        def write(writer: int, key: str = key, start: threading.Barrier = start) -> None:
            start.wait()
            store.put(key, {"writer": writer})

        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(write, range(WRITERS)))  # re-raises a writer's error
        written = store.get(key)
        assert written is not None
        assert written["writer"] in range(WRITERS)
