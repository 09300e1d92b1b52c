"""Hierarchical quotas against an independent model, as a hypothesis state machine.

Random sequences of submissions (at leaves and inner departments alike), approvals, rejections,
cancellations, provisioning, activation, decommissioning, failures, moves the lifecycle forbids and limit
changes drive the services directly, on both backends. A pure-Python model keeps what the database must
say: the limits, and every request's status and demand. Its admission rule is written from the
specification, not from cloudsvc's quota arithmetic:

    a demand fits when, for each class it touches, every department from the root down to the requester
    that has a limit has  in_use + reserved + demand <= limit,  with in_use and reserved rolled up over
    the department's whole subtree; reserved is held by pending_approval, approved and provisioning
    requests, in_use by active and decommissioning ones.

After every step the counters (limit, in_use, reserved of every department and class), the request
statuses and the ledger (``reconcile.check``) must agree with the model. Every admission decision (and
the dry run's before it), every shortfall named on a denial, the quota view of the submitting department
(headroom included) and every limit change refused for exceeding an ancestor's limit must be the
model's too.

    p (province)
    ├── a (city)
    │   ├── a1 (county) ── a1x, a1y (department)
    │   └── a2 (county) ── a2x (department)
    └── b (city) ── b1 (county) ── b1x (department)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudsvc.db import Database
from cloudsvc.departments import service as departments
from cloudsvc.departments.models import Department
from cloudsvc.departments.schemas import DepartmentCreate
from cloudsvc.errors import DomainError, IllegalTransition, InvalidInput, QuotaExceeded
from cloudsvc.principals import service as principals
from cloudsvc.principals.authz import Caller, Grant
from cloudsvc.principals.models import Role
from cloudsvc.principals.schemas import PrincipalCreate
from cloudsvc.quotas import flows, reconcile
from cloudsvc.quotas import service as quotas
from cloudsvc.resource_requests import service as requests
from cloudsvc.resource_requests import system
from cloudsvc.resource_requests.models import ResourceRequest
from cloudsvc.resource_requests.schemas import BandwidthSubmission, ServerSubmission, VolumeSubmission
from cloudsvc.zones import service as zones
from cloudsvc.zones.schemas import ZoneCreate
from quotas.demand import QuotaClass
from tests.conftest import wipe

T = TypeVar("T")
E = TypeVar("E", bound=DomainError)

# (code, level, parent code), parents first.
TREE: tuple[tuple[str, str, str | None], ...] = (
    ("p", "province", None),
    ("a", "city", "p"),
    ("a1", "county", "a"),
    ("a1x", "department", "a1"),
    ("a1y", "department", "a1"),
    ("a2", "county", "a"),
    ("a2x", "department", "a2"),
    ("b", "city", "p"),
    ("b1", "county", "b"),
    ("b1x", "department", "b1"),
)
CODES = tuple(code for code, _, _ in TREE)
PARENT = {code: parent for code, _, parent in TREE}


def _path(code: str) -> tuple[str, ...]:
    parent = PARENT[code]
    return (*_path(parent), code) if parent is not None else (code,)


PATH = {code: _path(code) for code in CODES}  # root first, the department itself last

# The model's own names for the quota classes, each with a scale at which limits bite.
SCALE = {
    "servers": 6,
    "vcpus": 24,
    "ram_mb": 6144,
    "volumes": 5,
    "volume_gb": 160,
    "bandwidth_mbps": 150,
}
CLASSES = tuple(SCALE)

RESERVING = frozenset({"pending_approval", "approved", "provisioning"})
IN_USE = frozenset({"active", "decommissioning"})
# The moves this machine makes, and from which statuses the lifecycle allows each.
MOVES: dict[str, frozenset[str]] = {
    "pending_approval": frozenset({"approve", "reject", "cancel"}),
    "approved": frozenset({"cancel", "provision", "fail"}),
    "provisioning": frozenset({"activate", "fail"}),
    "active": frozenset({"decommission"}),
    "decommissioning": frozenset({"decommissioned", "fail"}),
    "decommissioned": frozenset(),
    "rejected": frozenset(),
    "cancelled": frozenset(),
    "failed": frozenset(),
}
ALL_MOVES = ("approve", "reject", "cancel", "provision", "activate", "fail", "decommission", "decommissioned")

Short = tuple[str, str, int, int, int, int]  # department, class, requested, limit, in_use, reserved


@dataclass
class ModelRequest:
    department: str
    demand: dict[str, int]
    status: str = "pending_approval"
    stage: str | None = "department"  # the approval stage it awaits while pending_approval


def model_demand(kind: str, spec: dict[str, Any]) -> dict[str, int]:
    """What a request asks for, by class, from the rules (a server's root disk counts as volume_gb)."""
    if kind == "server":
        n = spec["count"]
        return {
            "servers": n,
            "vcpus": n * spec["vcpus"],
            "ram_mb": n * spec["ram_mb"],
            "volume_gb": n * spec["disk_gb"],
        }
    if kind == "volume":
        return {"volumes": 1, "volume_gb": spec["size_gb"]}
    return {"bandwidth_mbps": spec["mbps"]}


server_specs = st.fixed_dictionaries(
    {
        "count": st.integers(1, 3),
        "vcpus": st.integers(1, 6),
        "ram_mb": st.sampled_from([128, 512, 1024, 2048]),
        "disk_gb": st.integers(1, 40),
    }
)
submissions = st.one_of(
    st.tuples(st.just("server"), server_specs),
    st.tuples(st.just("volume"), st.fixed_dictionaries({"size_gb": st.integers(1, 80)})),
    st.tuples(st.just("bandwidth"), st.fixed_dictionaries({"mbps": st.integers(1, 80)})),
)
# One to three classes at once, each set to a value or unset (None).
limit_changes = st.lists(
    st.sampled_from(CLASSES).flatmap(
        lambda cls: st.tuples(st.just(cls), st.none() | st.integers(0, SCALE[cls]))
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda change: change[0],
).map(dict)


def _submission(department: str, kind: str, spec: dict[str, Any]) -> Any:
    body: dict[str, Any] = {
        "department_code": department,
        "kind": kind,
        "zone": "z",
        "classification": "unclassified",
        "mlps_level": 1,
        "justification": "state machine",
    }
    if kind == "server":
        return ServerSubmission.model_validate({**body, "spec": {**spec, "image": "kylin"}})
    if kind == "volume":
        return VolumeSubmission.model_validate({**body, "spec": spec})
    return BandwidthSubmission.model_validate({**body, "spec": spec})


def _as_short(raw: dict[str, Any]) -> Short:
    return (
        raw["department_code"],
        raw["quota_class"],
        raw["requested"],
        raw["limit"],
        raw["in_use"],
        raw["reserved"],
    )


class QuotaMachine(RuleBasedStateMachine):
    database: ClassVar[Database]  # the backend under test: set by the test on a subclass

    def __init__(self) -> None:
        super().__init__()
        wipe(self.database)
        self.admin = self._principal("admin", Role.system_admin)
        self.requester = self._principal("requester", Role.requester)
        self.approvers = {
            "department": self._principal("dept-approver", Role.dept_approver),
            "cloud": self._principal("cloud-approver", Role.cloud_approver),
        }
        with self.database.transaction() as session:
            zones.create(
                session,
                self.admin,
                ZoneCreate.model_validate(
                    {"name": "z", "backend": "simulator", "network": "extranet", "mlps_level": 3}
                ),
            )
            for code, level, parent in TREE:
                departments.create(
                    session,
                    self.admin,
                    DepartmentCreate.model_validate(
                        {"code": code, "name": code, "level": level, "parent_code": parent}
                    ),
                )
        self.limits: dict[tuple[str, str], int | None] = {(d, c): None for d in CODES for c in CLASSES}
        self.requests: dict[str, ModelRequest] = {}  # in submission order

    # -- plumbing ------------------------------------------------------------------------------------------

    def _principal(self, name: str, role: Role) -> Caller:
        with self.database.transaction() as session:
            created = principals.create(
                session, None, PrincipalCreate.model_validate({"name": name, "roles": [{"role": role.value}]})
            )
        return Caller(principal_id=created.principal.id, name=name, grants=(Grant(role, None),))

    def _run(self, action: Callable[[Session], T]) -> T:
        with self.database.transaction() as session:
            return action(session)

    def _try(self, action: Callable[[Session], T], refusal: type[E]) -> T | E:
        """Run ``action`` in a transaction; a ``refusal`` it raises (after a rollback) is the result."""
        try:
            return self._run(action)
        except refusal as refused:
            return refused

    def _pick(self, data: st.DataObject, *statuses: str) -> str:
        return data.draw(st.sampled_from(self.ids(*statuses)), label="request")

    # -- the model -----------------------------------------------------------------------------------------

    def usage(self, department: str, cls: str) -> tuple[int, int]:
        """(in_use, reserved) of ``department`` for ``cls``, over its whole subtree."""
        in_use = reserved = 0
        for request in self.requests.values():
            if department in PATH[request.department]:
                amount = request.demand.get(cls, 0)
                if request.status in IN_USE:
                    in_use += amount
                elif request.status in RESERVING:
                    reserved += amount
        return in_use, reserved

    def short(self, department: str, demand: dict[str, int]) -> list[Short]:
        """Every department on the path and class where ``demand`` does not fit; empty when it fits."""
        found = []
        for on_path in PATH[department]:
            for cls, amount in demand.items():
                limit = self.limits[on_path, cls]
                in_use, reserved = self.usage(on_path, cls)
                if limit is not None and in_use + reserved + amount > limit:
                    found.append((on_path, cls, amount, limit, in_use, reserved))
        return sorted(found)

    def tightest_above(self, department: str, cls: str) -> int | None:
        """The smallest limit for ``cls`` among ``department``'s ancestors (None: none has one)."""
        return min(
            (limit for a in PATH[department][:-1] if (limit := self.limits[a, cls]) is not None),
            default=None,
        )

    def ids(self, *statuses: str) -> list[str]:
        """Requests in ``statuses``, oldest first (not by id: ids are random, and runs must repeat)."""
        return [i for i, r in self.requests.items() if r.status in statuses]

    def has(self, *statuses: str) -> bool:
        return any(r.status in statuses for r in self.requests.values())

    # -- limits --------------------------------------------------------------------------------------------

    def _set_limits(self, department: str, changes: dict[str, int | None]) -> bool:
        """Set limits as a system administrator, as the model predicts; True if they were set."""
        violating = {
            cls
            for cls, limit in changes.items()
            if limit is not None
            and (above := self.tightest_above(department, cls)) is not None
            and limit > above
        }
        outcome = self._try(
            lambda s: flows.set_limits(
                s, self.admin, department, {QuotaClass(c): v for c, v in changes.items()}
            ),
            InvalidInput,
        )
        if not isinstance(outcome, InvalidInput):
            assert not violating, f"{department} {changes} exceeds an ancestor's in {violating} but was set"
            self.limits.update({(department, cls): limit for cls, limit in changes.items()})
            return True
        assert violating, f"{department} {changes} was refused: {outcome.message}"
        cls = (outcome.field or "").removeprefix("limits.")
        assert cls in violating, (outcome.field, violating)
        tightest = self.tightest_above(department, cls)
        # It names the ancestor with the tightest limit (any of them, if several tie).
        assert outcome.extra["parent_code"] in {
            a for a in PATH[department][:-1] if self.limits[a, cls] == tightest
        }, outcome.extra
        return False

    @initialize(changes=limit_changes)
    def root_limits(self, changes: dict[str, int | None]) -> None:
        self._set_limits("p", changes)

    @rule(data=st.data(), how=st.sampled_from(["any", "above_an_ancestor", "below_use"]))
    def set_limits(self, data: st.DataObject, how: str) -> None:
        """Set or unset limits anywhere; raise one above an ancestor's (refused); or lower one below what
        its subtree already holds (accepted: it blocks growth only). The last two fall back to the first
        when nothing qualifies."""
        if how == "above_an_ancestor" and (
            under := [(d, c) for d in CODES for c in CLASSES if self.tightest_above(d, c) is not None]
        ):
            department, cls = data.draw(st.sampled_from(under), label="department, class")
            above = self.tightest_above(department, cls)
            assert above is not None
            limit = above + data.draw(st.integers(1, 50), label="excess")
            assert not self._set_limits(department, {cls: limit})
            return
        if how == "below_use" and (used := [(d, c) for d in CODES for c in CLASSES if sum(self.usage(d, c))]):
            department, cls = data.draw(st.sampled_from(used), label="department, class")
            ceiling = sum(self.usage(department, cls)) - 1
            if (above := self.tightest_above(department, cls)) is not None:
                ceiling = min(ceiling, above)
            limit = data.draw(st.integers(0, ceiling), label="limit")
            assert self._set_limits(department, {cls: limit})
            return
        department = data.draw(st.sampled_from(CODES), label="department")
        self._set_limits(department, data.draw(limit_changes, label="changes"))

    # -- requests ------------------------------------------------------------------------------------------

    def check_view(self, code: str, row: quotas.ClassView) -> None:
        """A department's quota view: its own counters, and the least room anywhere on its path."""
        cls = row.quota_class.value
        limit, (in_use, reserved) = self.limits[code, cls], self.usage(code, cls)
        assert (row.limit, row.in_use, row.reserved) == (limit, in_use, reserved)
        assert row.available == (None if limit is None else limit - in_use - reserved)
        room = {
            on_path: on_path_limit - sum(self.usage(on_path, cls))
            for on_path in PATH[code]
            if (on_path_limit := self.limits[on_path, cls]) is not None
        }
        least = min(room.values(), default=None)
        assert row.headroom == least, (code, row, room)
        assert row.headroom_department in {d for d, r in room.items() if r == least} | (
            {None} if least is None else set()
        ), (code, row, room)

    @rule(department=st.sampled_from(CODES), submission=submissions)
    def submit(self, department: str, submission: tuple[str, dict[str, Any]]) -> None:
        kind, spec = submission
        demand = model_demand(kind, spec)
        expected = self.short(department, demand)
        view, (_, dry) = self._run(
            lambda s: (
                flows.show(s, self.requester, department)[1],
                flows.dry_run(s, self.requester, department_code=department, kind=kind, spec=spec),
            )
        )
        for row in view:
            self.check_view(department, row)
        dry_short = sorted(
            (s.department, s.quota_class.value, s.requested, s.limit, s.in_use, s.reserved) for s in dry
        )
        assert dry_short == expected, "the dry run disagrees"
        outcome = self._try(
            lambda s: requests.submit(s, self.requester, _submission(department, kind, spec))[0].id,
            QuotaExceeded,
        )
        if not isinstance(outcome, QuotaExceeded):
            assert not expected, f"{kind} {demand} at {department} was admitted though short: {expected}"
            self.requests[outcome] = ModelRequest(department, demand)
            return
        assert expected, f"{kind} {demand} at {department} fits but was denied: {outcome.message}"
        named = outcome.extra["shortfalls"]
        assert sorted(_as_short(s) for s in named) == expected
        for s in named:
            assert s["available"] == max(s["limit"] - s["in_use"] - s["reserved"], 0)
            assert s["short_by"] == s["requested"] - s["available"] > 0

    def _approve_stage(self, request_id: str) -> None:
        request = self.requests[request_id]
        assert request.stage is not None
        approver = self.approvers[request.stage]
        self._run(lambda s: requests.approve(s, approver, request_id, comment=None))
        if request.stage == "department":
            request.stage = "cloud"
        else:
            request.status, request.stage = "approved", None

    @precondition(lambda self: self.has("pending_approval"))
    @rule(data=st.data(), through=st.booleans())
    def approve(self, data: st.DataObject, through: bool) -> None:
        """Pass the stage the request awaits (department, then cloud); with ``through``, every stage left."""
        request_id = self._pick(data, "pending_approval")
        self._approve_stage(request_id)
        if through and self.requests[request_id].stage is not None:
            self._approve_stage(request_id)
        self._forbidden_move(data, request_id)

    @precondition(lambda self: self.has("pending_approval"))
    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        request = self.requests[request_id := self._pick(data, "pending_approval")]
        assert request.stage is not None
        approver = self.approvers[request.stage]
        self._run(lambda s: requests.reject(s, approver, request_id, reason="no"))
        request.status, request.stage = "rejected", None
        self._forbidden_move(data, request_id)

    @precondition(lambda self: self.has("pending_approval", "approved"))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        request = self.requests[request_id := self._pick(data, "pending_approval", "approved")]
        self._run(lambda s: requests.cancel(s, self.requester, request_id, reason=None))
        request.status, request.stage = "cancelled", None
        self._forbidden_move(data, request_id)

    @precondition(lambda self: self.has("approved", "provisioning"))
    @rule(data=st.data(), finish=st.booleans())
    def activate(self, data: st.DataObject, finish: bool) -> None:
        """The worker starts building an approved request and, with ``finish``, it goes active; a request
        already provisioning goes active."""
        request = self.requests[request_id := self._pick(data, "approved", "provisioning")]
        if request.status == "approved":
            self._run(lambda s: system.begin_provisioning(s, request_id))
            request.status, started = "provisioning", True
        else:
            started = False
        if finish or not started:
            self._run(lambda s: system.mark_active(s, request_id))
            request.status = "active"
        self._forbidden_move(data, request_id)

    @precondition(lambda self: self.has("active", "decommissioning"))
    @rule(data=st.data(), finish=st.booleans())
    def decommission(self, data: st.DataObject, finish: bool) -> None:
        """Its owner decommissions an active request and, with ``finish``, the worker removes it; a
        request already decommissioning is removed."""
        request = self.requests[request_id := self._pick(data, "active", "decommissioning")]
        if request.status == "active":
            self._run(lambda s: requests.decommission(s, self.requester, request_id, reason=None))
            request.status, started = "decommissioning", True
        else:
            started = False
        if finish or not started:
            self._run(lambda s: system.mark_decommissioned(s, request_id))
            request.status = "decommissioned"
        self._forbidden_move(data, request_id)

    @precondition(lambda self: self.has("approved", "provisioning", "decommissioning"))
    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        request = self.requests[request_id := self._pick(data, "approved", "provisioning", "decommissioning")]
        self._run(lambda s: system.mark_failed(s, request_id, reason="host lost"))
        request.status = "failed"
        self._forbidden_move(data, request_id)

    def _forbidden_move(self, data: st.DataObject, request_id: str) -> None:
        """After each move, one the lifecycle now forbids must be refused and change nothing (the invariant
        checks the latter): from every status the machine reaches, terminal ones included."""
        status = self.requests[request_id].status
        move = data.draw(st.sampled_from([m for m in ALL_MOVES if m not in MOVES[status]]), label="forbidden")
        actions: dict[str, Callable[[Session], object]] = {
            "approve": lambda s: requests.approve(s, self.approvers["department"], request_id, comment=None),
            "reject": lambda s: requests.reject(s, self.approvers["department"], request_id, reason="no"),
            "cancel": lambda s: requests.cancel(s, self.requester, request_id, reason=None),
            "provision": lambda s: system.begin_provisioning(s, request_id),
            "activate": lambda s: system.mark_active(s, request_id),
            "fail": lambda s: system.mark_failed(s, request_id, reason="host lost"),
            "decommission": lambda s: requests.decommission(s, self.requester, request_id, reason=None),
            "decommissioned": lambda s: system.mark_decommissioned(s, request_id),
        }
        outcome = self._try(actions[move], IllegalTransition)
        assert isinstance(outcome, IllegalTransition), f"{move} of a {status} request was allowed"

    # -- the database agrees -------------------------------------------------------------------------------

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        with self.database.transaction() as session:
            codes = dict(session.execute(select(Department.id, Department.code)).all())
            counters = {
                (codes[department_id], cls.value): (u.limit, u.in_use, u.reserved)
                for department_id, usage in quotas.usage_by_department(session).items()
                for cls, u in usage.items()
            }
            statuses = dict(session.execute(select(ResourceRequest.id, ResourceRequest.status)).all())
            drift = reconcile.check(session)
        assert counters == {
            (code, cls): (self.limits[code, cls], *self.usage(code, cls)) for code in CODES for cls in CLASSES
        }
        assert statuses == {i: r.status for i, r in self.requests.items()}
        assert drift == []


def test_the_model_knows_every_quota_class() -> None:
    assert set(CLASSES) == {cls.value for cls in QuotaClass}


def test_quotas_follow_the_model(session_database: Database) -> None:
    """Runs once per backend; each example starts from an empty database (``QuotaMachine.__init__``)."""

    class OnThisBackend(QuotaMachine):
        database = session_database

    # No health check is suppressed: none fires (the fixture is bridged by a subclass, not through @given).
    run_state_machine_as_test(
        OnThisBackend,
        settings=settings(
            # 600 steps per backend reach every transition, denials and refused limits many times over;
            # both backends together take about 40 s on a 2-core machine at a load average of 4-5.
            max_examples=10,
            stateful_step_count=60,
            deadline=None,  # a step is several transactions; PostgreSQL under load is slow, not wrong
            derandomize=True,  # the same sequences on every run (and on both backends): CI is deterministic
            database=None,
        ),
    )
