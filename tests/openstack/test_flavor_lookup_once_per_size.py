"""Movers starting side by side look a flavor up once, not once each.

Each of them listed Nova's flavors (eleven listings for fifteen servers in bench/provision_openstack),
calls that queue with the servers' own on a busy nova-api. The lookups here are the real ones against
the test cloud, counted, and held a little longer so that the others arrive while one runs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from openstack.compute.v2.flavor import Flavor
from openstack.connection import Connection

from provisioners.base import ServerSpec
from provisioners.openstack import servers

pytestmark = pytest.mark.openstack


@pytest.fixture
def second_size(admin: Connection) -> Iterator[Flavor]:
    """A flavor of a size the test cloud lacks, made beforehand so that the lookups find it."""
    flavor = admin.compute.create_flavor(
        name=f"lookup-{uuid.uuid4().hex[:8]}", vcpus=2, ram=1024, disk=3, is_public=True
    )
    yield flavor
    admin.compute.delete_flavor(flavor.id, ignore_missing=True)


def test_side_by_side_lookups_of_one_size_ask_nova_once(
    admin: Connection, second_size: Flavor, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[ServerSpec] = []
    lock = threading.Lock()
    real_lookup = servers.flavor_for

    def counted_lookup(conn: Connection, spec: ServerSpec) -> Flavor:
        with lock:
            looked_up.append(spec)
        time.sleep(0.2)  # long enough for the others to arrive while it runs
        return real_lookup(conn, spec)

    monkeypatch.setattr(servers, "flavor_for", counted_lookup)
    flavors = servers.Flavors()
    tiny, other = ServerSpec(1, 512, 1, "i"), ServerSpec(2, 1024, 3, "i")  # m1.tiny's, second_size's
    start = threading.Barrier(8)

    def get(i: int) -> tuple[Flavor, bool]:
        start.wait()
        return flavors.of(admin, tiny if i % 2 else other)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(get, range(8)))
    assert sorted(s.ram_mb for s in looked_up) == [512, 1024]  # once per size
    assert {flavor.id for flavor, _ in answers} == {
        admin.compute.find_flavor("m1.tiny", ignore_missing=False).id,
        second_size.id,
    }
    again = flavors.of(admin, tiny, fresh=True)
    assert (again[0].name, again[1]) == ("m1.tiny", True)  # fresh: asked again
    assert len(looked_up) == 3
