"""Health endpoints and the command line, on fresh SQLite files (the embedded default)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from cloudsvc.app import create_app
from cloudsvc.cli import main
from cloudsvc.config import Settings
from cloudsvc.db import Database
from tests.support import bearer


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fresh.db'}"


def cli(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"CLOUDSVC_DATABASE_URL": url})
    return result.exit_code, result.output


def test_readyz_is_503_until_migrated_then_200(sqlite_url: str) -> None:
    app = create_app(Settings(database_url=sqlite_url, bootstrap_token="x" * 32))
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert "cloudsvc db upgrade" in not_ready.json()["reason"]
        assert cli(sqlite_url, "db", "upgrade")[0] == 0
        assert client.get("/readyz").status_code == 200


def test_cli_creates_a_principal_whose_token_works(sqlite_url: str) -> None:
    assert cli(sqlite_url, "db", "upgrade")[0] == 0
    code, out = cli(sqlite_url, "admin", "create-principal", "--name", "ops-admin", "--role", "system_admin")
    assert code == 0, out
    token = json.loads(out)["token"]
    with TestClient(create_app(Settings(database_url=sqlite_url))) as client:
        me = client.get("/v1/principals/me", headers=bearer(token)).json()
        assert me["roles"] == [{"role": "system_admin", "department_code": None}]
        client.post(
            "/v1/departments", headers=bearer(token), json={"code": "p", "name": "P", "level": "province"}
        )
    code, out = cli(sqlite_url, "departments", "list")
    assert (code, out.split("\t")[0]) == (0, "p")
    code, out = cli(sqlite_url, "audit", "verify")
    assert code == 0
    assert json.loads(out)["ok"] is True


def test_cli_refuses_bad_roles_clearly(sqlite_url: str) -> None:
    cli(sqlite_url, "db", "upgrade")
    code, out = cli(sqlite_url, "admin", "create-principal", "--name", "x", "--role", "emperor")
    assert code != 0
    assert "role" in out
    code, out = cli(sqlite_url, "admin", "create-principal", "--name", "x", "--role", "viewer@nowhere")
    assert code != 0
    assert "nowhere" in out


def test_cli_audit_verify_fails_on_a_tampered_trail(sqlite_url: str) -> None:
    cli(sqlite_url, "db", "upgrade")
    cli(sqlite_url, "admin", "create-principal", "--name", "a", "--role", "auditor")
    with Database(sqlite_url).engine.begin() as connection:
        connection.exec_driver_sql("UPDATE audit_events SET actor_name = 'mallory'")
    code, out = cli(sqlite_url, "audit", "verify")
    assert code == 1
    assert json.loads(out)["first_bad_event"] == 1


def test_help_lists_the_commands() -> None:
    code, out = cli("sqlite://", "--help")
    assert code == 0
    for command in ("serve", "db", "admin", "departments", "requests", "audit"):
        assert command in out


def test_serve_runs_the_embedded_default(tmp_path: Path) -> None:
    """What the README's first command does: migrate, then serve on SQLite with no cloud."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "CLOUDSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'svc.db'}",
        "CLOUDSVC_BOOTSTRAP_TOKEN": "readme-demo-token-0123456789",
    }
    executable = str(Path(sys.executable).parent / "cloudsvc")
    subprocess.run([executable, "db", "upgrade"], env=env, check=True, capture_output=True)
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [executable, "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        ready = None
        for _ in range(200):
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert ready is not None, (tmp_path / "serve.log").read_text()
        assert ready.status_code == 200, (tmp_path / "serve.log").read_text()
        me = httpx.get(
            f"http://127.0.0.1:{port}/v1/principals/me", headers=bearer("readme-demo-token-0123456789")
        )
        assert me.json()["name"] == "bootstrap-admin"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
        log.close()
