"""The post-provision baseline, run for real: ansible-runner plays the real playbook on this machine
(connection=local) and the tests look at what is there afterwards.

The plays write their configuration under a temporary ``baseline_root`` instead of over /etc, start no
services (no init system runs here), and only check that the Debian packages are installed (the project's
scripts/ensure-baseline-packages.sh installs them before the tests). The department admin accounts are
real accounts, with names of the test's own, removed afterwards.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudsvc.db import Database, utcnow
from cloudsvc.provisioning import baseline
from cloudsvc.provisioning.jobs import Job
from cloudsvc.provisioning.models import SimulatorObject
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from cloudsvc.resource_requests.lifecycle import Status
from provisioners import base
from tests.support import World

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBaselineTestKeyOnly cloudsvc-test"


@pytest.fixture
def admin_name() -> Iterator[str]:
    name = f"cs_t{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["userdel", "-r", name], check=False, capture_output=True)


def local_settings(root: Path, **overrides: Any) -> dict[str, Any]:
    """A zone's baseline block that runs the play on this machine, writing under ``root``."""
    return {
        "enabled": True,
        "connection": "local",
        "vars": {
            "baseline_root": str(root),
            "baseline_manage_services": False,
            "audit_forward_host": "127.0.0.1",
            "chrony_servers": ["ntp.test.invalid"],
            **overrides,
        },
    }


def job(mlps_level: int, department: str = "dept-a", settings: dict[str, Any] | None = None) -> Job:
    tenancy = base.Tenancy(
        department_code=department,
        department_name=department,
        level="department",
        classification="unclassified",
        mlps_level=mlps_level,
        limits={},
    )
    return Job(
        request_id="r-test",
        status=Status.provisioning,
        kind="server",
        spec={},
        zone_id=0,
        zone_backend="simulator",
        zone_settings={"baseline": settings or {}},
        department_id=0,
        tenancy=tenancy,
        failure_reason=None,
        waiting_since=None,
        attempts=0,
        lease_expires_at=None,
        loaded_at=utcnow(),
    )


def play(root: Path, mlps_level: int) -> tuple[baseline.Outcome, list[tuple[str, str, str | None]]]:
    settings = baseline.BaselineSettings.model_validate(local_settings(root))
    heard: list[tuple[str, str, str | None]] = []
    outcome = baseline.run_play(
        settings,
        job(mlps_level, settings=local_settings(root)),
        {"web-1": "127.0.0.1"},
        on_task=lambda *task: heard.append(task),
        cancel=lambda: False,
    )
    return outcome, heard


def test_level_2_baseline_differs_from_level_3_where_the_levels_differ(tmp_path: Path) -> None:
    outcome, heard = play(tmp_path, mlps_level=2)
    assert outcome.ok, outcome
    assert ("Check the baseline's variables", "done", "web-1") in heard
    etc = tmp_path / "etc"
    assert "server ntp.test.invalid iburst" in (etc / "chrony/chrony.conf").read_text()
    assert "--web.listen-address=:9100" in (etc / "default/prometheus-node-exporter").read_text()
    sshd = (etc / "ssh/sshd_config.d/50-cloudsvc-baseline.conf").read_text()
    assert "PasswordAuthentication no" in sshd
    assert "MaxAuthTries 5" in sshd  # level 3 allows 3
    assert "ClientAliveInterval 600" in sshd
    assert "TMOUT=600" in (etc / "profile.d/cloudsvc-timeout.sh").read_text()
    assert "minlen = 8" in (etc / "security/pwquality.conf").read_text()
    assert "deny = 10" in (etc / "security/faillock.conf").read_text()
    rules = (etc / "audit/rules.d/50-cloudsvc-mlps.rules").read_text()
    assert "-w /etc/shadow -p wa -k identity" in rules
    assert "-k privileged" not in rules  # only level 3 audits privileged commands
    assert "-e 2" not in rules
    assert "Authorised use only" in (etc / "issue.net").read_text()
    forward = etc / "rsyslog.d/60-cloudsvc-forward.conf"
    assert 'Target="127.0.0.1"' in forward.read_text()
    master = tmp_path / "rsyslog.conf"  # rsyslogd checks the drop-in as Debian's rsyslog.conf would load it
    master.write_text(f'global(workDirectory="{tmp_path}")\ninclude(file="{forward}")\n')
    checked = subprocess.run(["rsyslogd", "-N1", "-f", str(master)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    for package in ("chrony", "prometheus-node-exporter", "openssh-server", "rsyslog", "auditd"):
        assert subprocess.run(["dpkg-query", "-W", package], capture_output=True).returncode == 0


def test_a_baseline_run_becomes_steps_of_the_request_and_then_the_request_is_active(
    client: TestClient, world: World, database: Database, tmp_path: Path, admin_name: str
) -> None:
    settings = local_settings(tmp_path)
    settings["admins"] = {"dept-a": [{"name": admin_name, "ssh_key": KEY}]}
    world.zone("sim", baseline=settings)
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim", mlps_level=3)

    worker = Worker(database, WorkerSettings())
    assert worker.tick() == 1

    body = client.get(f"/v1/requests/{request_id}", headers=owner).json()
    assert body["status"] == "active", body
    steps = [(s["step"], s["outcome"]) for s in body["steps"]]
    assert ("baseline: Check the baseline's variables", "done") in steps
    assert ("baseline: Create the department's admin accounts", "done") in steps
    assert steps.index(("baseline: Create the department's admin accounts", "done")) < steps.index(
        ("provisioned", "done")
    )
    etc = tmp_path / "etc"
    sshd = (etc / "ssh/sshd_config.d/50-cloudsvc-baseline.conf").read_text()
    assert "MaxAuthTries 3" in sshd  # the request's level 3, not the level 2 default
    assert "TMOUT=300" in (etc / "profile.d/cloudsvc-timeout.sh").read_text()
    rules = (etc / "audit/rules.d/50-cloudsvc-mlps.rules").read_text()
    assert "-k privileged" in rules
    assert rules.rstrip().endswith("-e 2")
    account = pwd.getpwnam(admin_name)
    assert account.pw_shell == "/bin/bash"
    keys = Path(account.pw_dir) / ".ssh/authorized_keys"
    assert keys.read_text() == KEY + "\n"
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    groups = subprocess.run(["id", "-nG", admin_name], capture_output=True, text=True, check=True).stdout
    assert "cloudsvc-admins" in groups.split()
    sudoers = etc / "sudoers.d/cloudsvc-admins"
    assert subprocess.run(["visudo", "-cf", str(sudoers)], capture_output=True).returncode == 0


def test_a_failing_task_fails_the_request_naming_the_task_and_nothing_is_left(
    client: TestClient, world: World, database: Database, tmp_path: Path
) -> None:
    world.zone("sim", baseline=local_settings(tmp_path, audit_forward_protocol="carrier-pigeon"))
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim")

    worker = Worker(database, WorkerSettings())
    for _ in range(3):  # the failing play, then the clean-up of the server it was meant for
        worker.tick()

    body = client.get(f"/v1/requests/{request_id}", headers=owner).json()
    assert body["status"] == "failed", body
    assert 'baseline task "Check the baseline\'s variables" failed' in body["status_reason"]
    assert "audit_forward_protocol tcp or udp" in body["status_reason"]
    assert ("baseline: Check the baseline's variables", "failed") in [
        (s["step"], s["outcome"]) for s in body["steps"]
    ]
    assert not (tmp_path / "etc").exists()  # the play stopped before it changed anything
    with database.session() as session:
        assert (
            list(session.scalars(select(SimulatorObject.key).where(SimulatorObject.key.like("cs-%")))) == []
        )


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"enabled": "perhaps"}, "settings.baseline.enabled"),
        ({"playbook": "../../etc/passwd"}, "settings.baseline.playbook"),
        ({"connection": "telnet"}, "settings.baseline.connection"),
        (
            {"admins": {"dept-a": [{"name": "Root!", "ssh_key": KEY}]}},
            "settings.baseline.admins.dept-a.0.name",
        ),
        ({"surprise": 1}, "settings.baseline.surprise"),
    ],
)
def test_a_wrong_baseline_block_is_refused_naming_the_field(
    client: TestClient, world: World, block: dict[str, Any], field: str
) -> None:
    response = client.post(
        "/v1/zones",
        headers=world.admin,
        json={
            "name": "bad",
            "backend": "simulator",
            "network": "extranet",
            "mlps_level": 3,
            "settings": {"baseline": block},
        },
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text


def test_a_server_whose_ssh_does_not_answer_yet_is_tried_again_later(
    client: TestClient, world: World, database: Database, tmp_path: Path
) -> None:
    # Over ssh to a loopback port where nothing listens (extra vars outrank the simulator's addresses, which
    # must never be contacted): what a new server looks like before its sshd is up.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = {"enabled": True, "vars": {"ansible_host": "127.0.0.1", "ansible_port": closed_port}}
    world.zone("sim", baseline=settings)
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim")

    Worker(database, WorkerSettings()).tick()

    body = client.get(f"/v1/requests/{request_id}", headers=owner).json()
    assert body["status"] == "provisioning", body
    assert body["progress"].startswith("waiting: baseline: a server did not answer yet"), body["progress"]
    assert body["steps"][-1]["step"] == "retry"


def test_every_playbook_passes_ansible_syntax_check() -> None:
    project = baseline.SOURCE_ANSIBLE_DIR
    playbooks = sorted((project / "playbooks").glob("*.yml"))
    assert playbooks
    for playbook in playbooks:
        checked = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "--syntax-check",
                "-i",
                "localhost,",
                str(playbook),
            ],
            cwd=project,
            env={**os.environ, "ANSIBLE_CONFIG": str(project / "ansible.cfg")},
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
