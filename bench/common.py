"""Shared by the benchmarks: throwaway PostgreSQL databases and latency summaries."""

from __future__ import annotations

import os
import statistics
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg

from cloudsvc.db import migrate

PG_ADMIN_URL = os.environ.get("CLOUDSVC_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def throwaway_postgres(prefix: str) -> Iterator[str]:
    """A migrated PostgreSQL database, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate.upgrade(f"{base}/{name}")
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(samples: Sequence[float], q: float) -> float:
    return (
        statistics.quantiles(samples, n=1000, method="inclusive")[int(q * 1000) - 1]
        if len(samples) > 1
        else 0.0
    )
