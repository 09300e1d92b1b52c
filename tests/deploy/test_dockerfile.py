"""The Dockerfile, without a Docker engine (none runs here): hadolint lints it, and its steps run for real
on this machine — the same install script into a fresh virtualenv, the migrations mode, the API mode and
the worker mode, and the HEALTHCHECK command against each (and against a worker whose loop is frozen).
Not checked: the base image's own packages and the build itself."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = str(Path(sys.executable).parent / "hadolint")


def instructions(name: str) -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", text, re.MULTILINE)]


def hadolint(path: Path) -> list[dict[str, str]]:
    found = subprocess.run([HADOLINT, "--format", "json", str(path)], capture_output=True, text=True)
    result: list[dict[str, str]] = json.loads(found.stdout or "[]")
    return result


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    assert hadolint(DOCKERFILE) == []


def test_hadolint_would_notice_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get install curl\nCMD python app.py\n")
    assert {finding["code"] for finding in hadolint(careless)} >= {"DL3007", "DL3008"}


def test_the_image_is_multi_stage_runs_as_no_root_and_installs_as_make_runtime_does() -> None:
    assert len(instructions("FROM")) >= 2
    user = instructions("USER")[-1]
    assert user.split(":")[0] not in {"root", "0"}
    assert "RUN scripts/install-runtime.sh /opt/cloudsvc" in [f"RUN {r}" for r in instructions("RUN")]
    assert "scripts/install-runtime.sh $(or $(RUNTIME_VENV),/opt/cloudsvc)" in (ROOT / "Makefile").read_text()
    assert json.loads(instructions("ENTRYPOINT")[0]) == ["cloudsvc"]
    assert instructions("HEALTHCHECK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def healthy(check: list[str], env: dict[str, str]) -> bool:
    return subprocess.run(check, env=env, capture_output=True, timeout=60).returncode == 0


def eventually(check: list[str], env: dict[str, str], wanted: bool, alive: subprocess.Popen[bytes]) -> None:
    for _ in range(600):  # bounded; the answer changes once the process under it does
        if healthy(check, env) == wanted:
            return
        assert alive.poll() is None
        time.sleep(0.2)
    raise AssertionError(f"the HEALTHCHECK command never said {'healthy' if wanted else 'unhealthy'}")


def test_the_images_steps_work_install_migrate_serve_and_the_healthcheck(tmp_path: Path) -> None:
    venv = tmp_path / "opt-cloudsvc"
    subprocess.run([str(ROOT / "scripts/install-runtime.sh"), str(venv)], check=True, timeout=900)
    assert not (venv / "bin/pytest").exists()  # runtime only: no test tools in the image
    env = {
        **os.environ,
        "CLOUDSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'image.db'}",
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        # the container's own /tmp; here a file of the test's, which no other process on this machine writes
        "CLOUDSVC_WORKER_HEARTBEAT_FILE": str(tmp_path / "cloudsvc-worker.heartbeat"),
        "CLOUDSVC_WORKER_IDLE_SECONDS": "0.05",
        "CLOUDSVC_WORKER_HEARTBEAT_MAX_AGE_SECONDS": "1",
    }
    env.pop("PYTHONPATH", None)  # the installed cloudsvc, as in the image
    migrated = subprocess.run(
        [str(venv / "bin/cloudsvc"), "db", "upgrade"], env=env, capture_output=True, text=True, check=True
    )
    assert migrated.stdout.startswith("schema at ")

    port = free_port()
    check = json.loads(instructions("HEALTHCHECK")[0].split("CMD", 1)[1])
    check[-1] = check[-1].replace("8000", str(port))  # run through sh, finding cloudsvc and python on PATH
    assert not healthy(check, env)  # nothing runs yet
    server = subprocess.Popen(
        [str(venv / "bin/cloudsvc"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "CLOUDSVC_WORKER_IN_PROCESS": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        eventually(check, env, True, server)  # the API answers /healthz
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not healthy(check, env)

    worker = subprocess.Popen(
        [str(venv / "bin/cloudsvc"), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        eventually(check, env, True, worker)  # a worker container: its heartbeat
        worker.send_signal(signal.SIGSTOP)  # its loop stops turning
        eventually(check, env, False, worker)
        worker.send_signal(signal.SIGCONT)
        eventually(check, env, True, worker)
    finally:
        worker.send_signal(signal.SIGCONT)
        worker.terminate()
        worker.wait(timeout=30)
