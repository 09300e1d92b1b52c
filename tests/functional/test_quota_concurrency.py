"""Zero oversubscription under concurrency, on PostgreSQL.

Sixteen threads, each with its own connection, fire thousands of submissions, cancellations, approvals,
activations and decommissions at a 40-department, 4-level tree whose limits are tight enough that many
admissions must be refused. Afterwards every counter must equal what the ledger says, no department may
be over its limit, and nothing may have deadlocked or failed unexpectedly.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudsvc.db import Database
from cloudsvc.departments import service as departments
from cloudsvc.departments.schemas import DepartmentCreate
from cloudsvc.errors import Conflict, QuotaExceeded
from cloudsvc.principals import service as principals
from cloudsvc.principals.authz import Caller, Grant
from cloudsvc.principals.models import Role
from cloudsvc.principals.schemas import PrincipalCreate
from cloudsvc.quotas import reconcile
from cloudsvc.quotas import service as quotas
from cloudsvc.quotas.models import QuotaCounter
from cloudsvc.resource_requests import service as requests
from cloudsvc.resource_requests import system
from cloudsvc.resource_requests.models import ResourceRequest
from cloudsvc.resource_requests.schemas import ServerSubmission
from cloudsvc.zones import service as zones
from cloudsvc.zones.schemas import ZoneCreate
from quotas.demand import QuotaClass

THREADS = 16
OPERATIONS_PER_THREAD = 250  # 4,000 operations, about 2,400 of them submissions
LIMITS = {"province": 1500, "city": 600, "county": 240, "department": 90}


def _caller(database: Database, name: str, role: Role) -> Caller:
    with database.transaction() as session:
        created = principals.create(
            session, None, PrincipalCreate.model_validate({"name": name, "roles": [{"role": role.value}]})
        )
    return Caller(principal_id=created.principal.id, name=name, grants=(Grant(role, None),))


def _build_tree(database: Database, admin: Caller) -> list[str]:
    leaves = []
    with database.transaction() as session:
        zones.create(
            session,
            admin,
            ZoneCreate.model_validate(
                {"name": "z", "backend": "simulator", "network": "extranet", "mlps_level": 3}
            ),
        )

        def add(code: str, level: str, parent: str | None) -> None:
            department = departments.create(
                session,
                admin,
                DepartmentCreate.model_validate(
                    {"code": code, "name": code, "level": level, "parent_code": parent}
                ),
            )
            quotas.set_limits(
                session, admin, departments.chain(session, department), {QuotaClass.vcpus: LIMITS[level]}
            )

        add("p", "province", None)
        for c in range(3):
            add(f"c{c}", "city", "p")
            for k in range(3):
                add(f"c{c}k{k}", "county", f"c{c}")
                for d in range(3):
                    add(f"c{c}k{k}d{d}", "department", f"c{c}k{k}")
                    leaves.append(f"c{c}k{k}d{d}")
    return leaves


def test_thousands_of_concurrent_admissions_never_oversubscribe(postgres: Database) -> None:
    database = postgres
    admin = _caller(database, "admin", Role.system_admin)
    requester = _caller(database, "req", Role.requester)
    dept_approver = _caller(database, "dapp", Role.dept_approver)
    cloud_approver = _caller(database, "capp", Role.cloud_approver)
    leaves = _build_tree(database, admin)
    outcomes: Counter[str] = Counter()
    unexpected: list[BaseException] = []
    lock = threading.Lock()
    mine: list[str] = []  # request ids, shared so that threads act on each other's requests

    def submit(rng: random.Random) -> str:
        body = ServerSubmission.model_validate(
            {
                "department_code": rng.choice(leaves),
                "kind": "server",
                "zone": "z",
                "spec": {"vcpus": rng.randint(1, 8), "ram_mb": 512, "disk_gb": 1, "image": "i"},
                "classification": "unclassified",
                "mlps_level": 1,
                "justification": "load",
            }
        )
        with database.transaction() as session:
            request, _ = requests.submit(session, requester, body)
            request_id = request.id
        with lock:
            mine.append(request_id)
        return "submitted"

    def some_request(rng: random.Random) -> str | None:
        with lock:
            return rng.choice(mine) if mine else None

    def cancel(rng: random.Random) -> str:
        if (request_id := some_request(rng)) is None:
            return "idle"
        with database.transaction() as session:
            requests.cancel(session, requester, request_id, reason=None)
        return "cancelled"

    def activate(rng: random.Random) -> str:
        if (request_id := some_request(rng)) is None:
            return "idle"
        steps: tuple[Callable[[Session], object], ...] = (
            lambda s: requests.approve(s, dept_approver, request_id, comment=None),
            lambda s: requests.approve(s, cloud_approver, request_id, comment=None),
            lambda s: system.begin_provisioning(s, request_id),
            lambda s: system.mark_active(s, request_id),
        )
        for step in steps:
            with database.transaction() as session:
                step(session)
        return "activated"

    def decommission(rng: random.Random) -> str:
        if (request_id := some_request(rng)) is None:
            return "idle"
        with database.transaction() as session:
            requests.decommission(session, requester, request_id, reason=None)
        with database.transaction() as session:
            system.mark_decommissioned(session, request_id)
        return "decommissioned"

    operations = [submit] * 12 + [cancel] * 3 + [activate] * 3 + [decommission] * 2

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(OPERATIONS_PER_THREAD):
            operation = rng.choice(operations)
            try:
                outcome = operation(rng)
            except QuotaExceeded:
                outcome = "denied"
            except Conflict:  # IllegalTransition or a stage already passed: another thread got there first
                outcome = "raced"
            except Exception as exc:  # deadlocks, lost updates surfacing as constraint errors, anything
                with lock:
                    unexpected.append(exc)
                return
            with lock:
                outcomes[outcome] += 1

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))

    assert unexpected == [], unexpected[:3]
    assert outcomes["submitted"] + outcomes["denied"] > 2000, outcomes  # thousands of admission decisions
    assert outcomes["denied"] > 100, outcomes  # the limits really were reached
    assert outcomes["activated"] > 50, outcomes
    assert outcomes["decommissioned"] > 10, outcomes
    with database.transaction() as session:
        assert reconcile.check(session) == []  # counters == ledger, at every level
        for counter in session.scalars(select(QuotaCounter)):
            assert counter.in_use >= 0
            assert counter.reserved >= 0
            if counter.quota_limit is not None:
                assert counter.in_use + counter.reserved <= counter.quota_limit, counter.department_id
        statuses = Counter(session.scalars(select(ResourceRequest.status)))
    assert sum(statuses.values()) == outcomes["submitted"]
