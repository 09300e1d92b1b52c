"""The request state machine on its own, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloudsvc.audit.service import Actor
from cloudsvc.errors import IllegalTransition
from cloudsvc.resource_requests import lifecycle
from cloudsvc.resource_requests.lifecycle import Stage, Status
from cloudsvc.resource_requests.models import ResourceRequest

ALICE = Actor(principal_id="p-1", name="alice")

# Written from the issue, independently of lifecycle.ALLOWED.
EXPECTED_SUCCESSORS = {
    "pending_approval": {"approved", "rejected", "cancelled"},
    "approved": {"provisioning", "cancelled", "failed"},
    "provisioning": {"active", "failed"},
    "active": {"decommissioning"},
    "decommissioning": {"decommissioned", "failed"},
    "decommissioned": set(),
    "rejected": set(),
    "cancelled": set(),
    "failed": set(),
}


def new_request(waived: list[str] | None = None) -> ResourceRequest:
    request = ResourceRequest(id="r-1", waived_stages=waived or [], transitions=[], approval_policy_id=7)
    lifecycle.start(request, actor=ALICE, reason="needed")
    return request


def test_the_table_is_the_issues_lifecycle() -> None:
    assert {s.value: {t.value for t in ts} for s, ts in lifecycle.ALLOWED.items()} == EXPECTED_SUCCESSORS
    assert {s.value for s in lifecycle.TERMINAL} == {"decommissioned", "rejected", "cancelled", "failed"}


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("wanted", list(Status))
def test_move_allows_exactly_the_table(current: Status, wanted: Status) -> None:
    request = new_request()
    request.status = current
    before = len(request.transitions)
    if wanted.value in EXPECTED_SUCCESSORS[current.value]:
        lifecycle.move(request, wanted, actor=ALICE, reason="because")
        assert request.status == wanted
        assert request.transitions[-1].from_status == current
        assert len(request.transitions) == before + 1
    else:
        with pytest.raises(IllegalTransition) as refused:
            lifecycle.move(request, wanted, actor=ALICE)
        assert refused.value.extra["current_status"] == current
        assert request.status == current
        assert len(request.transitions) == before


def test_stages_pass_in_order() -> None:
    request = new_request()
    assert (request.status, request.approval_stage) == (Status.pending_approval, Stage.department)
    with pytest.raises(IllegalTransition):
        lifecycle.pass_stage(request, Stage.cloud, actor=ALICE, reason=None)
    lifecycle.pass_stage(request, Stage.department, actor=ALICE, reason=None)
    assert (request.status, request.approval_stage) == (Status.pending_approval, Stage.cloud)
    lifecycle.pass_stage(request, Stage.cloud, actor=ALICE, reason=None)
    assert (request.status, request.approval_stage) == (Status.approved, None)


@pytest.mark.parametrize(
    ("waived", "status", "stage"),
    [
        ([], Status.pending_approval, Stage.department),
        (["department"], Status.pending_approval, Stage.cloud),
        (["department", "cloud"], Status.approved, None),
        (["cloud"], Status.pending_approval, Stage.department),  # waived later, after the department
    ],
)
def test_waived_stages_pass_at_once(waived: list[str], status: Status, stage: Stage | None) -> None:
    request = new_request(waived)
    assert (request.status, request.approval_stage) == (status, stage)
    by_policy = [t for t in request.transitions if t.policy_id == 7]
    assert [t.stage for t in by_policy] == waived[: len(by_policy)]


def test_each_transition_keeps_how_long_the_request_was_in_the_status_it_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the duration histograms read: passing an approval stage does not restart the wait."""
    clock = {"now": datetime(2026, 12, 1, 8, 0, tzinfo=UTC)}
    monkeypatch.setattr(lifecycle, "utcnow", lambda: clock["now"])

    def at(seconds: float) -> None:
        clock["now"] = datetime(2026, 12, 1, 8, 0, tzinfo=UTC) + timedelta(seconds=seconds)

    request = new_request()
    at(50)
    lifecycle.pass_stage(request, Stage.department, actor=ALICE, reason=None)
    at(120)
    lifecycle.pass_stage(request, Stage.cloud, actor=ALICE, reason=None)
    at(130)
    lifecycle.move(request, Status.provisioning, actor=ALICE)
    at(175)
    lifecycle.move(request, Status.active, actor=ALICE)
    assert [(t.to_status, t.seconds_in_status) for t in request.transitions] == [
        (Status.pending_approval, None),
        (Status.pending_approval, 50.0),
        (Status.approved, 120.0),  # since submission, not since the department's approval
        (Status.provisioning, 10.0),
        (Status.active, 45.0),
    ]
