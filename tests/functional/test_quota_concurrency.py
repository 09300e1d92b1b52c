"""Zero oversubscription under concurrency, on PostgreSQL.

Sixteen threads, each with its own connection, fire thousands of submissions, cancellations, approvals,
activations and decommissions at a 40-department, 4-level tree whose limits, on two quota classes, are tight
enough that many admissions must be refused, and at every level of the tree. Afterwards every department's
counters must equal what the ledger says, no department may be over any limit or below zero, and nothing
may have deadlocked or failed unexpectedly.
"""

from __future__ import annotations

import random
import re
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
from cloudsvc.resource_requests import service as requests
from cloudsvc.resource_requests import system
from cloudsvc.resource_requests.models import ResourceRequest
from cloudsvc.resource_requests.schemas import ServerSubmission
from cloudsvc.zones import service as zones
from cloudsvc.zones.schemas import ZoneCreate
from quotas.demand import QuotaClass

THREADS = 16
OPERATIONS_PER_THREAD = 250  # 4,000 operations, about 2,400 of them submissions
# vcpus limits, by code with the county and department numbers left out. In c0 the city runs out first, in
# c1 its counties, in c2 its departments; the province has less than its cities together (1,020).
VCPUS_LIMITS = {
    "p": 900,
    **{"c0": 300, "c0k": 240, "c0kd": 90},
    **{"c1": 600, "c1k": 120, "c1kd": 90},
    **{"c2": 600, "c2k": 240, "c2kd": 40},
}
LEVELS = {1: "province", 2: "city", 4: "county", 6: "department"}  # by length of code: p, c0, c0k1, c0k1d2
RAM_MB_PER_VCPU_LIMIT = 512
RAM_MB_CHOICES = (512, 1024, 2048, 4096)  # about 512 MB per vCPU asked for on average: both classes bind


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
                session,
                admin,
                departments.chain(session, department),
                {
                    QuotaClass.vcpus: _vcpus_limit(code),
                    QuotaClass.ram_mb: _vcpus_limit(code) * RAM_MB_PER_VCPU_LIMIT,
                },
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


def _vcpus_limit(code: str) -> int:
    return VCPUS_LIMITS[re.sub(r"(?<=[kd])\d", "", code)]


def test_thousands_of_concurrent_admissions_never_oversubscribe(postgres: Database) -> None:
    database = postgres
    admin = _caller(database, "admin", Role.system_admin)
    requester = _caller(database, "req", Role.requester)
    dept_approver = _caller(database, "dapp", Role.dept_approver)
    cloud_approver = _caller(database, "capp", Role.cloud_approver)
    leaves = _build_tree(database, admin)
    outcomes: Counter[str] = Counter()
    short_of: Counter[tuple[str, str]] = Counter()  # (level, quota class) named by denials
    unexpected: list[BaseException] = []
    lock = threading.Lock()
    mine: list[str] = []  # request ids, shared so that threads act on each other's requests

    def submit(rng: random.Random) -> str:
        body = ServerSubmission.model_validate(
            {
                "department_code": rng.choice(leaves),
                "kind": "server",
                "zone": "z",
                "spec": {
                    "vcpus": rng.randint(1, 8),
                    "ram_mb": rng.choice(RAM_MB_CHOICES),
                    "disk_gb": 1,
                    "image": "i",
                },
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
            except QuotaExceeded as denial:
                outcome = "denied"
                with lock:
                    short_of.update(
                        (LEVELS[len(s["department_code"])], s["quota_class"])
                        for s in denial.extra["shortfalls"]
                    )
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
    # Every level ran out of each limited class at some point: the whole chain was really checked.
    assert set(short_of) == {(level, cls) for level in LEVELS.values() for cls in ("vcpus", "ram_mb")}, (
        short_of
    )
    with database.transaction() as session:
        assert reconcile.check(session) == []  # counters == ledger, at every level
        usage = quotas.usage_by_department(session)
        assert len(usage) == 40
        for department_id, classes in usage.items():
            for cls, counter in classes.items():
                assert counter.in_use >= 0, (department_id, cls)
                assert counter.reserved >= 0, (department_id, cls)
                if counter.limit is not None:
                    assert counter.in_use + counter.reserved <= counter.limit, (department_id, cls)
        statuses = Counter(session.scalars(select(ResourceRequest.status)))
    assert sum(statuses.values()) == outcomes["submitted"]
