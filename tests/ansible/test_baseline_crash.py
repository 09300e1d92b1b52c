"""A worker killed in the middle of the baseline play (with everything it started, as a container's or a
systemd unit's processes die together): the request stays claimable, the next worker runs the whole play
again, and the request ends active once, with the baseline in place."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloudsvc.db import Database
from cloudsvc.provisioning.models import ProvisioningStep, SimulatorObject
from tests.ansible.test_baseline_play import local_settings
from tests.support import World
from tests.worker_processes import WORKER, statuses

FIRST_TASK = "baseline: Check the baseline's variables"


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, at any depth (ansible-playbook runs in a session of its own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def runs_started(database: Database, request_id: str) -> int:
    with database.session() as session:
        query = select(func.count()).where(
            ProvisioningStep.request_id == request_id, ProvisioningStep.step == FIRST_TASK
        )
        return int(session.scalar(query) or 0)


def test_a_worker_killed_mid_play_leaves_the_request_to_the_next_which_plays_it_again(
    client: TestClient, world: World, database: Database, tmp_path: Path
) -> None:
    world.zone("sim", baseline=local_settings(tmp_path / "root"))
    owner = world.principal("requester@dept-a")
    request_id = world.approved(owner, zone="sim")
    env = {
        **os.environ,
        "CLOUDSVC_DATABASE_URL": database.url,
        "CLOUDSVC_WORKER_LEASE_SECONDS": "3",
        "CLOUDSVC_WORKER_IDLE_SECONDS": "0.1",
    }
    log = tmp_path / "worker.log"

    with log.open("wb") as out:
        first = subprocess.Popen([WORKER, "worker"], env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 600
        while runs_started(database, request_id) == 0:  # the play has begun on the server
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        doomed = descendants(first.pid)
        first.send_signal(signal.SIGKILL)
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):  # it may have ended with its parent
                os.kill(pid, signal.SIGKILL)
        first.wait()
    assert statuses(database) == {"provisioning": 1}

    with log.open("ab") as out:
        second = subprocess.Popen([WORKER, "worker"], env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 900
        while statuses(database) != {"active": 1}:
            assert second.poll() is None, log.read_text()
            assert time.monotonic() < deadline, statuses(database)
            time.sleep(0.5)
    finally:
        second.terminate()
        second.wait(timeout=60)

    assert runs_started(database, request_id) == 2  # the whole play again, from its first task
    body = client.get(f"/v1/requests/{request_id}", headers=owner).json()
    assert [h["to_status"] for h in body["history"]].count("active") == 1
    assert "MaxAuthTries 5" in (tmp_path / "root/etc/ssh/sshd_config.d/50-cloudsvc-baseline.conf").read_text()
    with database.session() as session:
        assert (
            len(list(session.scalars(select(SimulatorObject.key).where(SimulatorObject.key.like("cs-%")))))
            == 1
        )
