"""A legacy system's migration status machine on its own, without a database: every allowed move and every
refused one."""

from __future__ import annotations

import pytest

from cloudsvc.errors import IllegalTransition
from cloudsvc.migration import lifecycle
from cloudsvc.migration.lifecycle import SystemStatus
from cloudsvc.migration.models import LegacySystem

# Written from the issue and the module's diagram, independently of lifecycle.ALLOWED.
EXPECTED_SUCCESSORS = {
    # assessment; or the operator decides to leave it or switch it off
    "not_started": {"assessed", "retained", "retired"},
    # re-assessment; a wave plan; the operator's decisions
    "assessed": {"assessed", "planned", "retained", "retired"},
    # re-assessment or re-planning; its wave executes (resources requested); the operator's decisions
    "planned": {"assessed", "planned", "provisioning", "retained", "retired"},
    # resources active: the cutover starts; or the move is abandoned
    "provisioning": {"cutting_over", "rolled_back"},
    # every step done, or a step failed (or an operator abandoned a stuck cutover) and it rolled back
    "cutting_over": {"migrated", "rolled_back"},
    # a migrated system is switched off at the end of its life
    "migrated": {"retired"},
    # another attempt, a new plan, or the operator gives up on moving it
    "rolled_back": {"cutting_over", "assessed", "retained", "retired"},
    # the operator reopens a retained system
    "retained": {"assessed"},
    "retired": set(),
}


def _system(status: SystemStatus) -> LegacySystem:
    return LegacySystem(code="crm", status=status, status_reason="before")


def test_the_table_is_the_issues_lifecycle() -> None:
    assert {s.value: {t.value for t in ts} for s, ts in lifecycle.ALLOWED.items()} == EXPECTED_SUCCESSORS
    assert {s.value for s in lifecycle.IN_FLIGHT} == {"provisioning", "cutting_over"}


@pytest.mark.parametrize("current", list(SystemStatus))
@pytest.mark.parametrize("wanted", list(SystemStatus))
def test_move_allows_exactly_the_table(current: SystemStatus, wanted: SystemStatus) -> None:
    system = _system(current)
    if wanted.value in EXPECTED_SUCCESSORS[current.value]:
        lifecycle.move(system, wanted, reason="because")
        assert (system.status, system.status_reason) == (wanted, "because")
    else:
        with pytest.raises(IllegalTransition) as refused:
            lifecycle.move(system, wanted, reason="because")
        assert refused.value.extra["current_status"] == current
        assert refused.value.extra["wanted_status"] == wanted
        assert f"system crm is {current}" in refused.value.message
        assert (system.status, system.status_reason) == (current, "before")  # nothing changed


def test_every_status_can_reach_an_end_and_retired_is_the_only_dead_end() -> None:
    ends = {SystemStatus.migrated, SystemStatus.retained, SystemStatus.retired}
    for start in SystemStatus:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in lifecycle.ALLOWED[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert seen & ends, start
    assert [s for s in SystemStatus if not lifecycle.ALLOWED[s]] == [SystemStatus.retired]


def test_a_move_without_a_reason_clears_the_old_one() -> None:
    system = _system(SystemStatus.not_started)
    lifecycle.move(system, SystemStatus.assessed)
    assert system.status_reason is None
