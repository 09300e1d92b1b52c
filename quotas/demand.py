"""What a request asks for, in quota classes: the one place where a spec becomes numbers."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class QuotaClass(StrEnum):
    servers = "servers"
    vcpus = "vcpus"
    ram_mb = "ram_mb"
    volumes = "volumes"
    volume_gb = "volume_gb"
    bandwidth_mbps = "bandwidth_mbps"


Demand = dict[QuotaClass, int]


def demand_of(kind: str, spec: Mapping[str, Any]) -> Demand:
    """The request's demand per quota class; classes it does not touch are absent.

    A server's root disk counts as block storage (volume_gb): on this cloud root disks are volumes and the
    department pays for them like any other.
    """
    if kind == "server":
        count = int(spec["count"])
        return {
            QuotaClass.servers: count,
            QuotaClass.vcpus: count * int(spec["vcpus"]),
            QuotaClass.ram_mb: count * int(spec["ram_mb"]),
            QuotaClass.volume_gb: count * int(spec["disk_gb"]),
        }
    if kind == "volume":
        return {QuotaClass.volumes: 1, QuotaClass.volume_gb: int(spec["size_gb"])}
    if kind == "bandwidth":
        return {QuotaClass.bandwidth_mbps: int(spec["mbps"])}
    if kind == "quota":
        return {}  # a change of limits uses no quota itself
    raise ValueError(f"unknown request kind {kind!r}")


def exceeds(demand: Demand, ceiling: Mapping[QuotaClass, int]) -> dict[QuotaClass, int]:
    """The classes where ``demand`` goes over ``ceiling``, with the excess; classes without a ceiling pass."""
    return {
        cls: amount - ceiling[cls]
        for cls, amount in demand.items()
        if cls in ceiling and amount > ceiling[cls]
    }
