"""How long GET /metrics takes on a large cloud, against the floor: prometheus-client rendering the same
number of samples from plain in-memory gauges (no database, nothing to compute).

Sets up, on a throwaway PostgreSQL database, 10,000 departments in a 4-level tree with a limit in every
quota class, and 100,000 backend resources (one per request, over four zones, most active, the rest
spread over the other statuses), each request with its history of transitions, backend usage for the
active servers, backend error counts and worker passes; bulk-loaded with COPY.

Then, in the same run, times (median of ``--runs``, after one warm-up):

1. the scrape: what GET /metrics does, in the text format (every sample source reads the database);
2. the floor: a registry of plain Gauges holding exactly the samples the scrape produced, rendered.

Prints both, the sample count and the ratio. Goal: scrape < 1 s and within 2x of the floor.
Run: .venv/bin/python -m bench.metrics_scrape [--departments 10000] [--resources 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import Metric
from sqlalchemy import text

from bench.common import throwaway_postgres
from bench.quota_admission import build_tree
from cloudsvc.db import Database
from cloudsvc.monitoring.collector import metrics_registry
from cloudsvc.monitoring.exposition import encode
from cloudsvc.monitoring.sources import SOURCES
from cloudsvc.quotas.models import Field, column_name
from quotas.demand import QuotaClass

ZONES = ("z", "ext-2", "int-1", "int-2")
# status: share of the resources
STATUSES = {
    "active": 0.80,
    "pending_approval": 0.04,
    "approved": 0.01,
    "provisioning": 0.02,
    "decommissioned": 0.08,
    "failed": 0.03,
    "cancelled": 0.02,
}
PATHS = {  # the transitions that led to each status
    "pending_approval": ["pending_approval"],
    "approved": ["pending_approval", "approved"],
    "provisioning": ["pending_approval", "approved", "provisioning"],
    "active": ["pending_approval", "approved", "provisioning", "active"],
    "decommissioned": [
        "pending_approval",
        "approved",
        "provisioning",
        "active",
        "decommissioning",
        "decommissioned",
    ],
    "failed": ["pending_approval", "approved", "provisioning", "failed"],
    "cancelled": ["pending_approval", "cancelled"],
}
KINDS = ("server", "server", "server", "volume", "bandwidth")


def load(database: Database, departments: int, resources: int, rng: random.Random) -> None:
    leaves = build_tree(database, departments)
    with database.transaction() as session:
        department_ids = {code: i for code, i in session.execute(text("SELECT code, id FROM departments"))}
        # Realistic counters: some of every limit in use and reserved.
        figures = ", ".join(
            f"{column_name(cls, Field.limit)} = 1000 + (department_id * 7919) % 100000, "
            f"{column_name(cls, Field.in_use)} = (department_id * 104729) % 1000, "
            f"{column_name(cls, Field.reserved)} = (department_id * 31) % 100"
            for cls in QuotaClass
        )
        session.execute(text(f"UPDATE quota_counters SET {figures}"))
        for name in ZONES[1:]:
            session.execute(
                text(
                    "INSERT INTO zones (name, backend, network, mlps_level, xinchuang, settings, created_at) "
                    "VALUES (:n, 'simulator', 'extranet', 3, false, '{}', now())"
                ),
                {"n": name},
            )
        session.execute(
            text(
                "INSERT INTO principals (id, name, token_hash, created_at) "
                "VALUES ('bench', 'bench', 'x', now())"
            )
        )
    zone_ids = list(range(1, len(ZONES) + 1))
    now = datetime.now(UTC)
    statuses = list(STATUSES)
    weights = list(STATUSES.values())
    connection = database.engine.raw_connection()
    try:
        cursor = connection.cursor()
        plan = []
        with cursor.copy(
            "COPY resource_requests (id, department_id, zone_id, kind, spec, justification, status, "
            "requested_by, created_at, updated_at, waived_stages, attempts) FROM STDIN"
        ) as requests:
            for _ in range(resources):
                request_id = str(uuid.uuid4())
                status = rng.choices(statuses, weights)[0]
                kind = rng.choice(KINDS)
                created = now - timedelta(days=rng.uniform(0, 365))
                zone = rng.choice(zone_ids)
                department = department_ids[rng.choice(leaves)]
                plan.append((request_id, status, kind, zone, department, created))
                requests.write_row(
                    (
                        request_id,
                        department,
                        zone,
                        kind,
                        "{}",
                        "bench",
                        status,
                        "bench",
                        created,
                        now,
                        "[]",
                        0,
                    )
                )
        with cursor.copy(
            "COPY request_transitions (request_id, from_status, to_status, actor_name, at, "
            "seconds_in_status) FROM STDIN"
        ) as transitions:
            for request_id, status, _, _, _, created in plan:
                at, previous, waited = created, None, None
                for step in PATHS[status]:
                    transitions.write_row((request_id, previous, step, "bench", at, waited))
                    previous = step
                    waited = rng.expovariate(1 / 900)
                    at += timedelta(seconds=waited)
        with cursor.copy(
            'COPY provisioned_resources (request_id, "index", kind, name, state, addresses, updated_at) '
            "FROM STDIN"
        ) as objects:
            for request_id, status, kind, _, _, _ in plan:
                if status in ("active", "provisioning", "failed"):
                    state = {"active": "ready", "provisioning": "building", "failed": "absent"}[status]
                    objects.write_row((request_id, 0, kind, f"cs-{request_id}-0", state, "[]", now))
        with cursor.copy(
            'COPY backend_usage (request_id, "index", department_id, zone_id, kind, cpu_seconds, '
            "memory_used_bytes, collected_at) FROM STDIN"
        ) as usage:
            for request_id, status, kind, zone, department, _ in plan:
                if status == "active" and kind == "server":
                    usage.write_row((request_id, 0, department, zone, kind, rng.uniform(0, 1e6), 2**30, now))
        connection.commit()
    finally:
        connection.close()
    with database.transaction() as session:
        for zone in zone_ids:
            for error in ("temporary", "zone_unavailable", "permanent"):
                session.execute(
                    text("INSERT INTO backend_error_counts VALUES (:z, 'server', :e, :n)"),
                    {"z": zone, "e": error, "n": rng.randint(0, 500)},
                )
        session.execute(text("INSERT INTO worker_passes VALUES ('w1', now()), ('w2', now())"))
        session.execute(text("INSERT INTO audit_verification_results VALUES (1, true, 123456, now())"))
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit:
        autocommit.execute(text("VACUUM ANALYZE"))


def floor_registry(families: list[Metric]) -> CollectorRegistry:
    """Plain Gauges holding the very samples of ``families`` (one gauge per sample name)."""
    registry = CollectorRegistry(auto_describe=False)
    gauges: dict[str, Gauge] = {}
    for family in families:
        for sample in family.samples:
            labels = sorted(sample.labels)
            gauge = gauges.get(sample.name)
            if gauge is None:
                gauge = Gauge(sample.name, family.documentation, labels, registry=registry)
                gauges[sample.name] = gauge
            (gauge.labels(*(sample.labels[k] for k in labels)) if labels else gauge).set(sample.value)
    return registry


def timed(runs: int, render: Callable[[], bytes]) -> tuple[float, bytes]:
    output = render()  # warm-up (and the output)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        output = render()
        times.append(time.perf_counter() - began)
    return statistics.median(times), output


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--departments", type=int, default=10_000)
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)

    with throwaway_postgres("cloudsvc_bench_metrics") as url:
        database = Database(url)
        began = time.perf_counter()
        load(database, args.departments, args.resources, rng)
        print(f"loaded {args.departments} departments and {args.resources} resources "
              f"in {time.perf_counter() - began:.1f} s")  # fmt: skip
        registry = metrics_registry(database)
        scrape, output = timed(args.runs, lambda: encode(registry.collect(), "")[0])  # as GET /metrics
        families = list(registry.collect())
        by_source = []  # where a scrape's time goes, before rendering: one call of each source
        with database.session() as session:
            for source in SOURCES:
                began = time.perf_counter()
                count = sum(len(family.samples) for family in source(session))
                by_source.append((source.__name__, time.perf_counter() - began, count))
        database.dispose()

    samples = sum(len(f.samples) for f in families)
    floor_gauges = floor_registry(families)
    floor, floor_output = timed(args.runs, lambda: generate_latest(floor_gauges))
    assert len(floor_output.splitlines()) >= samples  # the same samples (plus HELP and TYPE lines)

    print(f"{samples:,} samples, {len(output) / 1e6:.1f} MB of text; median of {args.runs} runs\n")
    print(f"{'':<44}{'seconds':>9}{'vs floor':>10}")
    print(f"{'scrape (database → text)':<44}{scrape:>9.3f}{scrape / floor:>10.2f}")
    print(f"{'floor (in-memory gauges → text)':<44}{floor:>9.3f}{1:>10.2f}")
    print("\ngoal: scrape < 1 s and within 2x of the floor\n")
    print(f"{'sample source (database → families)':<44}{'seconds':>9}{'samples':>10}")
    for name, seconds, count in by_source:
        print(f"{name:<44}{seconds:>9.3f}{count:>10,}")


if __name__ == "__main__":
    main()
