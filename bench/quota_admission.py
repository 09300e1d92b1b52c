"""Quota admission throughput and latency against the floor any correct design pays.

Sets up 10,000 departments in a 4-level tree (province > 10 cities > 100 counties > 9,889 departments) on a
throwaway PostgreSQL database, then, at the same concurrency and in the same run:

1. quota admissions: the decision itself, as a transaction: write the ledger rows, lock-check-reserve a
   counters row of every department in the requester's chain (a free stripe of the province's and the
   city's, see migration 0008), commit.
2. the floor: a bare transaction that increments a single counter row (every worker the same row).
3. full submissions through the service layer (admission plus the tree and zone lookups, placement
   rules, approval policy, request and history rows, audit append): what POST /v1/requests costs
   without HTTP, for scale.

The phases take turns in short slices, so that a shared machine's changing load weighs on all alike.
Prints rates, p50/p99 latencies and each one's ratio to the floor.
Run: .venv/bin/python -m bench.quota_admission [--workers 8] [--seconds 15] [--slices 5]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import insert, select, text

from bench.common import percentile, throwaway_postgres
from cloudsvc.db import Database
from cloudsvc.departments.models import Department
from cloudsvc.principals import service as principals
from cloudsvc.principals.authz import Caller, Grant
from cloudsvc.principals.models import Role
from cloudsvc.principals.schemas import PrincipalCreate
from cloudsvc.quotas import service as quotas
from cloudsvc.quotas.models import Field, column_name, quota_counters, share_column
from cloudsvc.resource_requests import service as requests
from cloudsvc.resource_requests.schemas import ServerSubmission
from quotas.demand import QuotaClass

CITIES, COUNTIES_PER_CITY = 10, 10


def build_tree(database: Database, departments: int) -> list[str]:
    """Bulk-load the tree with generous limits at every level; return the leaf codes."""
    leaves_per_county = (departments - 1 - CITIES - CITIES * COUNTIES_PER_CITY) // (
        CITIES * COUNTIES_PER_CITY
    )
    rows: list[dict[str, object]] = []
    next_id = 1

    def add(code: str, level: str, parent: dict[str, object] | None) -> dict[str, object]:
        nonlocal next_id
        row = {
            "id": next_id,
            "code": code,
            "name": code,
            "level": level,
            "parent_id": parent["id"] if parent else None,
            "path": f"{parent['path'] if parent else '/'}{next_id}/",
        }
        next_id += 1
        rows.append(row)
        return row

    leaves = []
    province = add("prov", "province", None)
    for c in range(CITIES):
        city = add(f"c{c}", "city", province)
        for k in range(COUNTIES_PER_CITY):
            county = add(f"c{c}k{k}", "county", city)
            for d in range(leaves_per_county):
                leaves.append(str(add(f"c{c}k{k}d{d}", "department", county)["code"]))
    limit = 10**12
    with database.transaction() as session:
        session.execute(
            text(
                "INSERT INTO departments (id, code, name, level, parent_id, path, created_at) "
                "VALUES (:id, :code, :name, :level, :parent_id, :path, now())"
            ),
            rows,
        )
        session.execute(text("SELECT setval('departments_id_seq', :n)"), {"n": next_id})
        # Each department's stripes (as departments.create makes them) with the limit shared out evenly.
        stripes = {str(r["id"]): quotas.stripes_for(session, str(r["level"])) for r in rows}
        session.execute(
            insert(quota_counters),
            [
                {
                    "department_id": r["id"],
                    "stripe": s,
                    **{column_name(c, Field.limit): limit for c in QuotaClass},
                    **{share_column(c): limit // stripes[str(r["id"])] for c in QuotaClass},
                }
                for r in rows
                for s in range(stripes[str(r["id"])])
            ],
        )
        session.execute(
            text(
                "INSERT INTO zones (name, backend, network, mlps_level, xinchuang, settings, created_at) "
                "VALUES ('z', 'simulator', 'extranet', 3, false, '{}', now())"
            )
        )
    return leaves


def pending_requests(database: Database, principal_id: str, count: int) -> list[str]:
    """Request rows for the admission phase to reserve for (the ledger refers to its request)."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with database.transaction() as session:
        session.execute(
            text(
                "INSERT INTO resource_requests (id, department_id, zone_id, kind, spec, classification, "
                "mlps_level, justification, lease_days, status, requested_by, created_at, updated_at, "
                "waived_stages) VALUES (:id, 1, 1, 'server', '{}', 'unclassified', 1, 'bench', 30, "
                "'pending_approval', :p, now(), now(), '[]')"
            ),
            [{"id": i, "p": principal_id} for i in ids],
        )
    return ids


def drive(workers: int, seconds: float, one: Callable[[random.Random], None]) -> list[float]:
    """Run ``one`` in ``workers`` threads for ``seconds``; return every call's latency in seconds."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(workers + 1)
    deadline: list[float] = []

    def loop(seed: int) -> None:
        rng, mine = random.Random(seed), []
        start.wait()
        while time.perf_counter() < deadline[0]:
            began = time.perf_counter()
            one(rng)
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    deadline.append(time.perf_counter() + seconds)
    start.wait()
    for thread in threads:
        thread.join()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--departments", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase, over all its slices")
    parser.add_argument("--slices", type=int, default=5, help="the phases take turns this many times")
    args = parser.parse_args()

    with throwaway_postgres("cloudsvc_bench") as url:
        database = Database(url, pool_size=args.workers + 2)
        leaves = build_tree(database, args.departments)
        with database.transaction() as session:
            created = principals.create(
                session,
                None,
                PrincipalCreate.model_validate({"name": "bench", "roles": [{"role": "requester"}]}),
            )
            session.execute(text("CREATE TABLE bench_floor (id int PRIMARY KEY, n bigint NOT NULL)"))
            session.execute(text("INSERT INTO bench_floor VALUES (1, 0)"))
        caller = Caller(created.principal.id, "bench", (Grant(Role.requester, None),))
        request_ids = iter(pending_requests(database, created.principal.id, 200_000))
        ids_lock = threading.Lock()
        departments_by_code = {}
        with database.session() as session:
            for department in session.scalars(select(Department)):
                session.expunge(department)
                departments_by_code[department.code] = department

        def admit_only(rng: random.Random) -> None:
            with ids_lock:
                request_id = next(request_ids)
            department = departments_by_code[rng.choice(leaves)]
            demand = {
                QuotaClass.servers: 1,
                QuotaClass.vcpus: rng.randint(1, 8),
                QuotaClass.ram_mb: 2048,
                QuotaClass.volume_gb: 20,
            }
            with database.transaction() as session:
                quotas.reserve(session, request_id=request_id, department=department, demand=demand)

        def submit(rng: random.Random) -> None:
            submission = ServerSubmission.model_validate(
                {
                    "department_code": rng.choice(leaves),
                    "kind": "server",
                    "zone": "z",
                    "spec": {"vcpus": rng.randint(1, 8), "ram_mb": 2048, "disk_gb": 20, "image": "kylin"},
                    "classification": "unclassified",
                    "mlps_level": 2,
                    "justification": "benchmark",
                }
            )
            with database.transaction() as session:
                requests.submit(session, caller, submission)

        def floor(_: random.Random) -> None:
            with database.engine.begin() as connection:
                connection.execute(text("UPDATE bench_floor SET n = n + 1 WHERE id = 1"))

        drive(args.workers, 2.0, admit_only)  # warm caches and connection pools
        drive(args.workers, 2.0, submit)
        # Interleaved in short slices, so that a shared machine's load, which drifts by the second,
        # weighs on every phase alike and the ratios compare like with like.
        phases: dict[str, list[float]] = {
            "quota admission": [],
            "floor (1-row update)": [],
            "full submission": [],
        }
        work = {"quota admission": admit_only, "floor (1-row update)": floor, "full submission": submit}
        for _ in range(args.slices):
            for name, one in work.items():
                phases[name] += drive(args.workers, args.seconds / args.slices, one)
        database.dispose()

    floor_rate = len(phases["floor (1-row update)"]) / args.seconds
    print(f"departments {args.departments} in 4 levels; each admission locks a stripe of the province's")
    print(
        f"{args.workers} worker threads, one connection each, {args.seconds:.0f} s per phase in "
        f"{args.slices} interleaved slices, same database\n"
    )
    print(f"{'phase':<22}{'count':>8}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs floor':>10}")
    for name, latencies in phases.items():
        rate = len(latencies) / args.seconds
        print(
            f"{name:<22}{len(latencies):>8}{rate:>9,.0f}{percentile(latencies, 0.5) * 1000:>9.2f}"
            f"{percentile(latencies, 0.99) * 1000:>9.2f}{rate / floor_rate:>10.2f}"
        )
    print("\ngoal: quota admission p99 < 10 ms and at least 0.5 of the floor's rate")


if __name__ == "__main__":
    main()
