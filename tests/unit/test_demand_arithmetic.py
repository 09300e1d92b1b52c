"""Quota demand: what a spec costs per quota class, and which ceilings it goes over."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from quotas.demand import QuotaClass, demand_of, exceeds

amounts = st.integers(min_value=0, max_value=10**9)


@given(
    vcpus=st.integers(1, 256),
    ram=st.integers(128, 4 * 1024 * 1024),
    disk=st.integers(1, 65536),
    count=st.integers(1, 100),
)
def test_server_demand_scales_with_count(vcpus: int, ram: int, disk: int, count: int) -> None:
    spec = {"vcpus": vcpus, "ram_mb": ram, "disk_gb": disk, "image": "x", "count": count}
    assert demand_of("server", spec) == {
        QuotaClass.servers: count,
        QuotaClass.vcpus: vcpus * count,
        QuotaClass.ram_mb: ram * count,
        QuotaClass.volume_gb: disk * count,
    }


def test_volume_and_bandwidth_demand() -> None:
    assert demand_of("volume", {"size_gb": 100, "volume_type": "ssd"}) == {
        QuotaClass.volumes: 1,
        QuotaClass.volume_gb: 100,
    }
    assert demand_of("bandwidth", {"mbps": 50, "direction": "both"}) == {QuotaClass.bandwidth_mbps: 50}


@given(
    demand=st.dictionaries(st.sampled_from(list(QuotaClass)), amounts),
    ceiling=st.dictionaries(st.sampled_from(list(QuotaClass)), amounts),
)
def test_exceeds_reports_exactly_the_classes_over_their_ceiling(
    demand: dict[QuotaClass, int], ceiling: dict[QuotaClass, int]
) -> None:
    over = exceeds(demand, ceiling)
    for cls, excess in over.items():
        assert excess == demand[cls] - ceiling[cls] > 0
    for cls, amount in demand.items():
        if cls not in over:
            assert cls not in ceiling or amount <= ceiling[cls]
