"""The worker's heartbeat and ``cloudsvc worker --check`` (the worker container's liveness probe): a real
``cloudsvc worker`` process beats while its loop turns; frozen (SIGSTOP), its beat goes stale and the check
fails; thawed, it beats again. Staleness itself is judged against a ``now`` the tests give, never waited for,
except for the frozen process, where the test waits (bounded) for the check to change its answer."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from cloudsvc.cli import main
from cloudsvc.config import Settings
from cloudsvc.db import migrate, utcnow
from cloudsvc.provisioning import heartbeat
from tests.worker_processes import WORKER


def check(beat_file: Path, max_age: float = 120) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["worker", "--check"],
        env={
            "CLOUDSVC_WORKER_HEARTBEAT_FILE": str(beat_file),
            "CLOUDSVC_WORKER_HEARTBEAT_MAX_AGE_SECONDS": str(max_age),
            "CLOUDSVC_WORKER_IDLE_SECONDS": "0.05",  # as the worker's: the limit must outlast two pauses
        },
    )
    return result.exit_code, result.output


def test_no_heartbeat_fails_the_check(tmp_path: Path) -> None:
    code, out = check(tmp_path / "beat")
    assert code == 1
    assert "no heartbeat" in out


def test_a_recent_beat_passes_and_an_old_one_fails(tmp_path: Path) -> None:
    beat_file = tmp_path / "beat"
    heartbeat.beat(beat_file, "worker-a", utcnow())
    assert check(beat_file) == (0, "worker alive\n")
    heartbeat.beat(beat_file, "worker-a", utcnow() - timedelta(seconds=121))  # as if its loop stopped then
    code, out = check(beat_file)
    assert code == 1
    assert "worker-a" in out
    assert "more than 120 s" in out


def test_staleness_is_judged_against_the_limit(tmp_path: Path) -> None:
    beat_file, then = tmp_path / "beat", utcnow()
    heartbeat.beat(beat_file, "worker-b", then)
    assert heartbeat.stale(beat_file, max_age=10, now=then + timedelta(seconds=10)) is None
    reason = heartbeat.stale(beat_file, max_age=10, now=then + timedelta(seconds=11))
    assert reason == f"worker-b (pid {os.getpid()}) last beat 11 s ago, more than 10 s"


def test_a_torn_or_foreign_file_counts_as_no_beat(tmp_path: Path) -> None:
    beat_file = tmp_path / "beat"
    for body in ("", "{", '{"worker_id": "w"}', "[1, 2]"):
        beat_file.write_text(body)
        assert heartbeat.read(beat_file) is None
        assert check(beat_file)[0] == 1


def test_a_limit_shorter_than_two_idle_pauses_is_refused() -> None:
    with pytest.raises(ValidationError, match="HEARTBEAT_MAX_AGE"):
        Settings(worker_idle_seconds=30, worker_heartbeat_max_age_seconds=45)


@pytest.fixture
def worker_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    url = f"sqlite:///{tmp_path / 'cloudsvc.db'}"
    migrate.upgrade(url)
    beat_file = tmp_path / "beat"
    env = {
        **os.environ,
        "CLOUDSVC_DATABASE_URL": url,
        "CLOUDSVC_WORKER_IDLE_SECONDS": "0.05",
        "CLOUDSVC_WORKER_HEARTBEAT_FILE": str(beat_file),
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen([WORKER, "worker"], env=env, stdout=out, stderr=out)
    try:
        yield process, beat_file
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=30)


def eventually(answer: int, beat_file: Path, max_age: float) -> str:
    """Poll the check until it exits ``answer`` (bounded); what it said last."""
    deadline = time.monotonic() + 60
    while True:
        code, out = check(beat_file, max_age)
        if code == answer:
            return out
        assert time.monotonic() < deadline, out
        time.sleep(0.05)


def test_a_running_worker_beats_and_a_frozen_one_is_found_dead(
    worker_process: tuple[subprocess.Popen[bytes], Path],
) -> None:
    process, beat_file = worker_process
    eventually(0, beat_file, max_age=120)  # once its imports are done and the loop turns
    last = heartbeat.read(beat_file)
    assert last is not None
    assert last.pid == process.pid
    assert last.worker_id.startswith("worker-")

    process.send_signal(signal.SIGSTOP)  # a loop that no longer turns, as a deadlock would leave it
    said = eventually(1, beat_file, max_age=0.5)
    assert last.worker_id in said
    frozen = heartbeat.read(beat_file)
    assert frozen is not None
    assert check(beat_file, max_age=0.5)[0] == 1  # and stays dead while frozen
    assert heartbeat.read(beat_file) == frozen

    process.send_signal(signal.SIGCONT)
    eventually(0, beat_file, max_age=0.5)
    thawed = heartbeat.read(beat_file)
    assert thawed is not None
    assert thawed.at > frozen.at
