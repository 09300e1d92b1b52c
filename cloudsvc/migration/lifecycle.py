"""A legacy system's migration status. Every change goes through ``move``.

not_started ──► assessed ──► planned ──► provisioning ──► cutting_over ──► migrated
     │  ▲          │  ▲        │              │                 │
     │  └──────────┘  └────────┤ (re-assess)  │                 └► rolled_back ──► cutting_over (retry)
     │                         │              └► rolled_back         │
     └──────────┬──────────────┘                                     └► assessed (re-plan)
                ▼
       retained / retired (the operator's decision to leave it or switch it off)
"""

from __future__ import annotations

from enum import StrEnum

from cloudsvc.errors import IllegalTransition
from cloudsvc.migration.models import LegacySystem


class SystemStatus(StrEnum):
    not_started = "not_started"
    assessed = "assessed"
    planned = "planned"
    provisioning = "provisioning"
    cutting_over = "cutting_over"
    migrated = "migrated"
    rolled_back = "rolled_back"
    retained = "retained"
    retired = "retired"


S = SystemStatus
ALLOWED: dict[SystemStatus, frozenset[SystemStatus]] = {
    S.not_started: frozenset({S.assessed, S.retained, S.retired}),
    S.assessed: frozenset({S.assessed, S.planned, S.retained, S.retired}),
    S.planned: frozenset({S.assessed, S.planned, S.provisioning, S.retained, S.retired}),
    S.provisioning: frozenset({S.cutting_over, S.rolled_back}),
    S.cutting_over: frozenset({S.migrated, S.rolled_back}),
    S.migrated: frozenset({S.retired}),
    S.rolled_back: frozenset({S.cutting_over, S.assessed, S.retained, S.retired}),
    S.retained: frozenset({S.assessed}),
    S.retired: frozenset(),
}

# While these hold, the inventory record is in the middle of a move and its footprint must not change.
IN_FLIGHT = frozenset({S.provisioning, S.cutting_over})


def move(system: LegacySystem, to: SystemStatus, *, reason: str | None = None) -> None:
    current = SystemStatus(system.status)
    if to not in ALLOWED[current]:
        raise IllegalTransition(
            current=current, wanted=to, message=f"system {system.code} is {current}; it cannot become {to}"
        )
    system.status = to
    system.status_reason = reason
