"""Striped counters (the province's and the cities', on PostgreSQL) admit exactly what fits, no more, no
less: concurrent admissions fill a striped department to its limit exactly, and below a lowered limit no
growth is let in until the department's use is back under it, whichever stripes the releases land on, and
admissions that find every stripe full wait for one another without deadlocking."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloudsvc.db import Database
from cloudsvc.departments import service as departments
from cloudsvc.departments.models import Department
from cloudsvc.departments.schemas import DepartmentCreate
from cloudsvc.errors import QuotaExceeded
from cloudsvc.principals import service as principals
from cloudsvc.principals.authz import Caller, Grant
from cloudsvc.principals.models import Role
from cloudsvc.principals.schemas import PrincipalCreate
from cloudsvc.quotas import reconcile
from cloudsvc.quotas import service as quotas
from cloudsvc.quotas.models import quota_counters
from cloudsvc.resource_requests import service as requests
from cloudsvc.resource_requests.schemas import ServerSubmission
from cloudsvc.zones import service as zones
from cloudsvc.zones.schemas import ZoneCreate
from quotas.arithmetic import Movement
from quotas.demand import QuotaClass


def _caller(database: Database, name: str, role: Role) -> Caller:
    with database.transaction() as session:
        body = PrincipalCreate.model_validate({"name": name, "roles": [{"role": role.value}]})
        created = principals.create(session, None, body)
    return Caller(principal_id=created.principal.id, name=name, grants=(Grant(role, None),))


def _tree(database: Database, admin: Caller, province_vcpus: int) -> None:
    """A province (limited in vcpus only) > a city > a department, and a zone."""
    with database.transaction() as session:
        zones.create(
            session,
            admin,
            ZoneCreate.model_validate(
                {"name": "z", "backend": "simulator", "network": "extranet", "mlps_level": 3}
            ),
        )
        for code, level, parent in (("p", "province", None), ("c", "city", "p"), ("d", "department", "c")):
            body = DepartmentCreate.model_validate(
                {"code": code, "name": code, "level": level, "parent_code": parent}
            )
            departments.create(session, admin, body)
        set_vcpus(session, admin, province_vcpus)


def set_vcpus(session: Session, admin: Caller, limit: int) -> None:
    province = departments.by_code(session, "p")
    assert province is not None
    quotas.set_limits(session, admin, departments.chain(session, province), {QuotaClass.vcpus: limit})


def _submit(database: Database, requester: Caller, vcpus: int) -> str | None:
    """A request for ``vcpus`` in department d: its id, or None when the quota refused it."""
    body = ServerSubmission.model_validate(
        {
            "department_code": "d",
            "kind": "server",
            "zone": "z",
            "spec": {"vcpus": vcpus, "ram_mb": 512, "disk_gb": 1, "image": "i"},
            "classification": "unclassified",
            "mlps_level": 1,
            "justification": "stripes",
        }
    )
    try:
        with database.transaction() as session:
            request, _ = requests.submit(session, requester, body)
            return request.id
    except QuotaExceeded:
        return None


def _province_vcpus(database: Database) -> tuple[int, int]:
    """(reserved + in use, number of stripes) of the province."""
    with database.session() as session:
        province = session.scalars(select(Department.id).where(Department.code == "p")).one()
        stripes = session.scalar(
            select(func.count()).select_from(quota_counters).where(quota_counters.c.department_id == province)
        )
        usage = quotas.usage_by_department(session, [province])[province][QuotaClass.vcpus]
    assert stripes is not None
    return usage.in_use + usage.reserved, stripes


def test_concurrent_admissions_fill_a_striped_province_exactly(postgres: Database) -> None:
    admin = _caller(postgres, "admin", Role.system_admin)
    requester = _caller(postgres, "req", Role.requester)
    _tree(postgres, admin, province_vcpus=37)
    assert _province_vcpus(postgres) == (0, quotas.STRIPES["province"])  # the case under test: striped
    outcomes: Counter[bool] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(12)

    def attempts(_: int) -> None:
        start.wait()
        for _ in range(10):
            admitted = _submit(postgres, requester, 1) is not None
            with lock:
                outcomes[admitted] += 1

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(attempts, range(12)))  # re-raises any thread's error
    # Exactly as many as fit: none over (oversubscription), none refused while room was left anywhere.
    assert outcomes == {True: 37, False: 120 - 37}
    assert _province_vcpus(postgres)[0] == 37
    with postgres.transaction() as session:
        assert reconcile.check(session) == []


def test_below_a_lowered_limit_releases_on_any_stripe_let_no_growth_in(postgres: Database) -> None:
    admin = _caller(postgres, "admin", Role.system_admin)
    requester = _caller(postgres, "req", Role.requester)
    _tree(postgres, admin, province_vcpus=64)
    held = [_submit(postgres, requester, 4) for _ in range(16)]  # full, spread over the stripes
    assert None not in held
    with postgres.transaction() as session:
        set_vcpus(session, admin, 40)
    used = 64
    for request_id in held:  # each cancellation releases 4 on whichever stripe is free
        assert request_id is not None
        with postgres.transaction() as session:
            requests.cancel(session, requester, request_id, reason="making room")
        used -= 4
        admitted = _submit(postgres, requester, 1) is not None
        assert admitted == (used + 1 <= 40), f"{used} in use of 40"
        used += admitted
        assert _province_vcpus(postgres)[0] == used
    with postgres.transaction() as session:
        assert reconcile.check(session) == []


def test_admissions_at_a_full_striped_province_wait_without_deadlocking(postgres: Database) -> None:
    """Reserve-and-release churn straight on the province, held at its limit: most quick picks find every
    stripe full and fall back to waiting for all of them. Before migration 0014 a quick pick could keep a
    stripe it had locked but found full, and two such waits deadlocked (dozens of times in this test)."""
    admin = _caller(postgres, "admin", Role.system_admin)
    requester = _caller(postgres, "req", Role.requester)
    _tree(postgres, admin, province_vcpus=8)  # half the threads
    request_id = _submit(postgres, requester, 1)  # a real request for the ledger rows to belong to
    assert request_id is not None
    with postgres.session() as session:
        province = departments.by_code(session, "p")
        assert province is not None
        session.expunge(province)
    demand = {QuotaClass.vcpus: 1}
    outcomes: Counter[bool] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(16)

    def churn(_: int) -> None:
        start.wait()
        for _ in range(150):
            try:
                with postgres.transaction() as session:
                    quotas.reserve(session, request_id=request_id, department=province, demand=demand)
            except QuotaExceeded:
                admitted = False
            else:
                admitted = True
                with postgres.transaction() as session:
                    quotas.settle(
                        session,
                        request_id=request_id,
                        chain_ids=[province.id],
                        demand=demand,
                        movement=Movement.release,
                    )
            with lock:
                outcomes[admitted] += 1

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(churn, range(16)))  # re-raises any thread's error, a deadlock's included
    assert outcomes[True] > 0
    assert outcomes[False] > 0  # the limit was reached: the slow path ran
    assert _province_vcpus(postgres)[0] == 1  # every churned unit released, the real request still held
    with postgres.transaction() as session:
        assert reconcile.check(session) == []
