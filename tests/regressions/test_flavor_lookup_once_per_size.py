"""Movers starting side by side look a flavor up once, not once each.

Each of them listed Nova's flavors (eleven listings for fifteen servers in bench/provision_openstack),
calls that queue with the servers' own on a busy nova-api. Nova is stood in for by a slow lookup that
counts its calls: what is under test is the cache's locking, not OpenStack (the driver's flavor lookups
against the real test cloud are in tests/openstack).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from provisioners.base import ServerSpec
from provisioners.openstack import servers


def test_side_by_side_lookups_of_one_size_ask_nova_once(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[ServerSpec] = []
    lock = threading.Lock()

    def slow_lookup(admin: Any, spec: ServerSpec) -> Any:
        time.sleep(0.2)  # long enough for the others to arrive while it runs
        with lock:
            looked_up.append(spec)
        return f"flavor-{spec.vcpus}"

    monkeypatch.setattr(servers, "flavor_for", slow_lookup)
    flavors = servers.Flavors()
    small, large = ServerSpec(1, 512, 1, "i"), ServerSpec(4, 4096, 20, "i")
    start = threading.Barrier(8)

    def get(i: int) -> tuple[Any, bool]:
        start.wait()
        return flavors.get(None, small if i % 2 else large)  # type: ignore[arg-type]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(get, range(8)))
    assert sorted(s.vcpus for s in looked_up) == [1, 4]  # once per size
    assert {flavor for flavor, _ in answers} == {"flavor-1", "flavor-4"}
    again: tuple[Any, bool] = flavors.get(None, small, fresh=True)  # type: ignore[arg-type]
    assert again == ("flavor-1", True)  # fresh: asked again
    assert len(looked_up) == 3
