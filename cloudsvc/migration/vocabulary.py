"""The planner's vocabulary as the control plane uses it (temporary until migrations_plan lands)."""

from __future__ import annotations

from enum import StrEnum


class Strategy(StrEnum):
    rehost = "rehost"
    replatform = "replatform"
    refactor = "refactor"
    repurchase = "repurchase"
    relocate = "relocate"
    retain = "retain"
    retire = "retire"


class Coupling(StrEnum):
    tight = "tight"
    loose = "loose"
