"""``cloudsvc serve --workers 2``: every API process answers a scrape from the database, so whichever
process a scrape reaches, it sees what was just written through any other."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cloudsvc.db import Database
from tests.monitoring.prometheus_server import free_port
from tests.monitoring.scrape import Samples, parse, value
from tests.support import BOOTSTRAP_TOKEN, bearer

CLOUDSVC = str(Path(sys.executable).parent / "cloudsvc")
PROCESSES = 2


@pytest.fixture
def served(database: Database, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "CLOUDSVC_DATABASE_URL": database.url,
        "CLOUDSVC_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
        "CLOUDSVC_WORKER_IN_PROCESS": "false",
    }
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [CLOUDSVC, "serve", "--port", str(port), "--workers", str(PROCESSES)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # each process imports everything; slow on a busy machine
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def scrape(url: str) -> Samples:
    # A new connection each time, so that the processes take turns accepting them.
    with httpx.Client() as fresh:
        response = fresh.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    return parse(response.text)


def test_every_process_reports_what_any_process_wrote(served: str) -> None:
    admin = bearer(BOOTSTRAP_TOKEN)
    parent = None
    for step, level in enumerate(("province", "city", "county", "department")):
        code = f"d{step}"
        with httpx.Client() as fresh:  # written through whichever process accepts this connection
            created = fresh.post(
                f"{served}/v1/departments",
                headers=admin,
                json={"code": code, "name": code, "level": level, "parent_code": parent},
            )
            assert created.status_code == 201, created.text
            limited = fresh.put(
                f"{served}/v1/departments/{code}/quotas",
                headers=admin,
                json={"limits": {"vcpus": 100 - step}},
            )
            assert limited.status_code == 200, limited.text
        for _ in range(3 * PROCESSES):
            samples = scrape(served)
            assert value(samples, "cloudsvc_departments", level=level) == 1
            assert (
                value(
                    samples,
                    "cloudsvc_quota_limit",
                    department=code,
                    parent=parent or "",
                    level=level,
                    **{"class": "vcpus"},
                )
                == 100 - step
            )
        parent = code
