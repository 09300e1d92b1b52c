"""Fixtures shared by every test: a throwaway database per backend (SQLite file and PostgreSQL), wiped
before each test that asks for it, and the app wired to it.

Every database test runs once per backend: the ids say which ([sqlite] or [postgresql]).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from cloudsvc.app import create_app
from cloudsvc.audit.service import GENESIS_HASH, HEAD_ID
from cloudsvc.config import Settings
from cloudsvc.db import Database, migrate
from cloudsvc.db.models import Base
from tests.support import BOOTSTRAP_TOKEN, World

PG_ADMIN_URL = os.environ.get("CLOUDSVC_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b for b in os.environ.get("CLOUDSVC_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
TABLES = [table.name for table in reversed(Base.metadata.sorted_tables)]


def _pg_url(database: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database}"


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A migrated PostgreSQL database that is dropped afterwards."""
    name = f"cloudsvc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate.upgrade(_pg_url(name))
        yield _pg_url(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database for the session: a SQLite file, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "cloudsvc.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        yield url
        return
    with throwaway_postgres() as url:
        yield url


@pytest.fixture
def postgres() -> Iterator[Database]:
    """A PostgreSQL database of the test's own, for what needs real row locks and concurrency."""
    with throwaway_postgres() as url:
        database = Database(url, pool_size=20)
        yield database
        database.dispose()


@pytest.fixture(scope="session")
def session_database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def wipe(database: Database) -> None:
    """Empty every table (the schema stays) and reset the audit chain to its genesis."""
    with database.engine.begin() as connection:
        if database.is_sqlite:
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))
        else:
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        connection.execute(
            text("INSERT INTO audit_chain_head (id, last_event_id, last_hash) VALUES (:id, 0, :hash)"),
            {"id": HEAD_ID, "hash": GENESIS_HASH},
        )


@pytest.fixture
def database(session_database: Database) -> Database:
    wipe(session_database)
    return session_database


@pytest.fixture
def settings(database: Database) -> Settings:
    # The worker runs only where a test starts it, so that tests drive provisioning step by step.
    return Settings(
        database_url=database.url,
        bootstrap_token=BOOTSTRAP_TOKEN,
        environment="test",
        worker_in_process=False,
    )


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:  # runs the lifespan, which bootstraps the first admin
        yield test_client


@pytest.fixture
def world(client: TestClient) -> World:
    """The standard tree, zones and an admin; see tests.support.World."""
    return World.build(client)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The app served by a real uvicorn on a loopback port, for tests that need true concurrency."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
