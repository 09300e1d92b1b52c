"""The one place where the control plane meets the pure planner (``migrations_plan``): our rows in,
its answers out."""

from __future__ import annotations

import graphlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from cloudsvc.migration.models import LegacySystem
from cloudsvc.migration.schemas import PlanIn
from cloudsvc.zones.models import Zone


@dataclass(frozen=True)
class PlannedWave:
    number: int
    starts_on: date
    codes: list[str]


@dataclass(frozen=True)
class PlanResult:
    method: str
    optimal: bool
    lower_bound: int
    waves: list[PlannedWave]
    reasons: dict[str, str]


def cycles(edges: Sequence[tuple[str, str, str]]) -> list[list[str]]:
    graph: dict[str, set[str]] = {}
    for a, b, _ in edges:
        graph.setdefault(a, set()).add(b)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])[:-1]
        return [cycle]
    return []


def suggest(system: LegacySystem) -> str:
    return "rehost"


def moves(strategy: str | None) -> bool:
    return strategy not in ("retain", "retire")


def choose_zone(system: LegacySystem, zones: Sequence[Zone]) -> tuple[Zone | None, str]:
    for zone in zones:
        if (
            system.classification != "classified" or zone.network == "intranet"
        ) and system.mlps_level <= zone.mlps_level:
            return zone, f"zone {zone.name}"
    return None, "no zone fits"


def plan(systems: Sequence[LegacySystem], data: PlanIn) -> PlanResult:
    raise NotImplementedError
