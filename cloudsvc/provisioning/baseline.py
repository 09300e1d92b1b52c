"""The post-provision baseline: an Ansible play (``ansible/``) run through ansible-runner on a request's
servers once the backend reports them all ready, before the request becomes ``active``.

A zone turns it on with a ``baseline`` block in its settings (the rest of the settings go to the driver)::

    baseline:
      enabled: true
      playbook: baseline.yml          # under ansible/playbooks/
      user: root                      # ssh user; the key comes from the worker's ssh configuration
      private_key_file: /run/secrets/baseline_key
      port: 22
      pin_first_contact: true         # no host keys from the backend: pin those shown at first contact
      become: false
      connection: ssh                 # "local" runs on the worker's own machine (tests, single-host labs)
      timeout_seconds: 1800
      vars: {chrony_servers: [...], audit_forward_host: ...}
      admins: {dept-code: [{name: zhangsan, ssh_key: "ssh-ed25519 ..."}]}

The play gets the request's MLPS level and department, and an inventory of the servers' first addresses.
Each task result becomes a provisioning step of the request; a failed task fails the request with the
task's name and message (the worker then deletes the servers, as for any failed provisioning).

Host keys: ansible checks every server's SSH host key against the keys pinned for it on the request's
resources (``cloudsvc.provisioning.host_keys``); a server that shows another key fails the request.

Crash safety: the request stays ``provisioning`` while the play runs, so a worker that dies mid-play leaves
it claimable, and the next worker runs the whole play again (every task is idempotent). The lease is
extended while the play runs; a worker that loses it cancels its run and writes nothing more.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloudsvc.db import Database
from cloudsvc.provisioning import host_keys
from cloudsvc.provisioning.jobs import Job, LeaseLost, Ledger
from cloudsvc.zones import capacity
from provisioners import base

KEY = "baseline"
_CLOUDSVC_KEYS = frozenset({KEY, capacity.KEY})
SOURCE_ANSIBLE_DIR = Path(__file__).resolve().parents[2] / "ansible"
STEP_PREFIX = "baseline: "
_TASK_EVENTS = {"runner_on_ok": "done", "runner_on_failed": "failed", "runner_on_unreachable": "failed"}


class AdminAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    ssh_key: str = Field(min_length=16, max_length=16_000)


class BaselineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    playbook: str = Field(default="baseline.yml", pattern=r"^[A-Za-z0-9_-]+\.ya?ml$")
    ansible_dir: str | None = Field(default=None, description="Defaults to the installed ansible/ project")
    user: str = "root"
    private_key_file: str | None = None
    port: int = Field(default=22, ge=1, le=65535)
    pin_first_contact: bool = Field(
        default=True,
        description="Where the backend reports no host keys, pin those a server shows at first contact",
    )
    become: bool = False
    connection: Literal["ssh", "local"] = "ssh"
    timeout_seconds: int = Field(default=1800, ge=10, le=6 * 3600)
    vars: dict[str, Any] = Field(default_factory=dict)
    admins: dict[str, list[AdminAccount]] = Field(default_factory=dict)

    @property
    def project(self) -> Path:
        """The zone's ansible_dir, else CLOUDSVC_ANSIBLE_DIR (the image sets it), else the source tree's.
        Read when a play starts rather than through Settings, so that the worker's loop needs no change."""
        found = self.ansible_dir or os.environ.get("CLOUDSVC_ANSIBLE_DIR")
        return Path(found) if found else SOURCE_ANSIBLE_DIR


def levels(settings: BaselineSettings) -> set[int]:
    """The MLPS levels the zone's baseline project has a variant for (``playbooks/vars/mlps-level<N>.yml``;
    level 1 is played with level 2's). A level-4 build is not shipped: an operator who writes one into the
    project (with the hardening their assessor asks for) makes level-4 zones with a baseline possible."""
    found = {
        int(match.group(1))
        for path in (settings.project / "playbooks" / "vars").glob("mlps-level*.yml")
        if (match := re.fullmatch(r"mlps-level([1-4])\.yml", path.name))
    }
    return found | ({1} if 2 in found else set())


def driver_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A zone's settings as its driver sees them: without cloudsvc's own blocks (baseline, capacity)."""
    return {k: v for k, v in settings.items() if k not in _CLOUDSVC_KEYS}


def parse(settings: Mapping[str, Any]) -> BaselineSettings | None:
    """The zone's baseline settings, or None when it has none. Raises InvalidSettings naming the field."""
    if KEY not in settings:
        return None
    try:
        parsed = BaselineSettings.model_validate(settings[KEY])
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in (KEY, *error["loc"]))
        raise base.InvalidSettings(f"{where}: {error['msg']}", field=where) from exc
    for name in sorted(_PINNED_SSH_VARS & set(parsed.vars)):
        where = f"{KEY}.vars.{name}"
        raise base.InvalidSettings(
            f"{where}: the baseline sets the ssh options itself (host keys are pinned)", field=where
        )
    return parsed


# Variables that would loosen or replace the ssh options holding a run to the pinned host keys.
_PINNED_SSH_VARS = {
    "ansible_host_key_checking",
    "ansible_ssh_host_key_checking",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_ssh_args",
}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    failed_task: str | None = None
    message: str | None = None
    events: int = 0
    unreachable: bool = False  # a new server's sshd may not answer yet: worth another try later
    host_key_changed: bool = False  # a server showed a host key other than the pinned one
    host: str | None = None  # the host of the failed task


def wanted(job: Job) -> BaselineSettings | None:
    found = parse(job.zone_settings) if job.kind == base.Kind.server else None
    return found if found is not None and found.enabled else None


def apply(
    database: Database,
    ledger: Ledger,
    job: Job,
    observed: Sequence[tuple[base.ResourceKey, base.Observed]],
    now: Callable[[], datetime],
    driver: base.Driver,
) -> None:
    """Run the zone's baseline on the request's servers if the zone wants one. Returns when it passed;
    raises PermanentError (failed task, changed host key), TemporaryError (a server not answering yet) or
    LeaseLost (another worker has the request now)."""
    settings = wanted(job)
    if settings is None:
        return
    hosts = {key.name: seen.addresses[0] for key, seen in observed if seen.addresses}
    if len(hosts) != len(observed):
        raise base.PermanentError("the backend reported a server without an address; cannot run the baseline")
    pins = None if settings.connection == "local" else pin(settings, ledger, job, observed, driver, now)
    recorder = _Recorder(database, ledger, job.request_id, now, heartbeat=ledger.lease.total_seconds() / 3)
    outcome = run_play(settings, job, hosts, pins=pins, on_task=recorder.task, cancel=recorder.cancel)
    if recorder.lost:
        raise LeaseLost(job.request_id)
    if outcome.host_key_changed:
        host, port = target(settings, hosts.get(outcome.host or "", "?"))
        raise base.PermanentError(
            f"baseline: {outcome.host} ({host}:{port}) showed an SSH host key other than the one pinned for "
            f"it; refusing to configure it (a rebuilt server, or someone in between): {outcome.message}"
        )
    if outcome.unreachable:
        raise base.TemporaryError(f"baseline: a server did not answer yet: {outcome.message}")
    if not outcome.ok:
        raise base.PermanentError(
            f"baseline task {outcome.failed_task!r} failed: {outcome.message}"
            if outcome.failed_task
            else f"baseline play failed: {outcome.message}"
        )


def target(settings: BaselineSettings, address: str) -> tuple[str, int]:
    """Where ssh reaches a server: its address and the zone's port, unless the zone's vars say otherwise
    (extra vars outrank the inventory, so ansible goes where they point)."""
    return str(settings.vars.get("ansible_host", address)), int(
        settings.vars.get("ansible_port", settings.port)
    )


def pin(
    settings: BaselineSettings,
    ledger: Ledger,
    job: Job,
    observed: Sequence[tuple[base.ResourceKey, base.Observed]],
    driver: base.Driver,
    now: Callable[[], datetime],
) -> dict[str, tuple[str, ...]]:
    """Each server's trusted host keys, by name: pinned on an earlier run, else reported by the backend,
    else (if the zone allows) shown at this first contact; new pins are recorded before the play runs."""
    pins: dict[str, tuple[str, ...]] = {}
    new: dict[int, tuple[str, ...]] = {}
    for key, seen in observed:
        before = job.seen.get(key.index)
        kept = before.host_keys if before is not None and before.backend_id == seen.backend_id else None
        keys = tuple(kept) if kept else driver.host_keys(key, job.tenancy)
        if not keys:
            host, port = target(settings, seen.addresses[0])
            if not settings.pin_first_contact:
                raise base.PermanentError(
                    f"baseline: the backend reports no SSH host keys for {key.name} and the zone's "
                    "baseline.pin_first_contact is false, so there is no key to trust"
                )
            keys = host_keys.scan(host, port)
            if not keys:
                raise base.TemporaryError(
                    f"baseline: a server did not answer yet: {key.name} ({host}:{port}) showed no host key"
                )
        if not kept:
            new[key.index] = keys
        pins[key.name] = keys
    if new:
        ledger.record_host_keys(job, new, now())
    return pins


def inventory(
    settings: BaselineSettings, hosts: Mapping[str, str], known_hosts: Path | None = None
) -> dict[str, Any]:
    """The play's inventory; over ssh, each host held to its pinned keys in ``known_hosts``."""

    def connection(name: str) -> dict[str, Any]:
        if settings.connection == "local":
            # on the worker's own machine, modules run with the worker's Python (discovery may find a
            # broken one)
            return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        assert known_hosts is not None, "an ssh run needs the pinned host keys"
        return {
            "ansible_port": settings.port,
            "ansible_ssh_common_args": host_keys.ssh_args(known_hosts, name),
        }

    key = {"ansible_ssh_private_key_file": settings.private_key_file} if settings.private_key_file else {}
    return {
        "all": {
            "hosts": {name: {"ansible_host": address, **connection(name)} for name, address in hosts.items()},
            "vars": {"ansible_user": settings.user, **key},
        }
    }


def extravars(settings: BaselineSettings, job: Job) -> dict[str, Any]:
    code = job.tenancy.department_code
    return {
        **settings.vars,
        "mlps_level": job.tenancy.mlps_level,
        "department_code": code,
        "baseline_become": settings.become,
        "baseline_admins": [a.model_dump() for a in settings.admins.get(code, [])],
    }


@dataclass
class _Recorder:
    """Writes each task result as a step of the request, fenced by the lease (which each write extends)."""

    database: Database
    ledger: Ledger
    request_id: str
    now: Callable[[], datetime]
    heartbeat: float  # seconds between lease extensions while no task reports
    lost: bool = False
    _last: float = field(default_factory=time.monotonic)

    def task(self, task: str, outcome: str, message: str | None) -> None:
        self._write(f"{STEP_PREFIX}{task}"[:64], outcome, message)

    def _write(self, step: str | None, outcome: str, message: str | None) -> None:
        if self.lost:
            return
        try:
            with self.database.transaction() as session:
                self.ledger.owned(session, self.request_id, self.now())
                if step is not None:
                    self.ledger.step(session, self.request_id, step, outcome, message)
        except LeaseLost:
            self.lost = True
        self._last = time.monotonic()

    def cancel(self) -> bool:
        """ansible-runner asks this often; it keeps the lease alive and stops a run whose lease is lost."""
        if time.monotonic() - self._last >= self.heartbeat:
            self._write(None, "", None)
        return self.lost


def run_play(
    settings: BaselineSettings,
    job: Job,
    hosts: Mapping[str, str],
    *,
    pins: Mapping[str, Sequence[str]] | None = None,
    on_task: Callable[[str, str, str | None], None],
    cancel: Callable[[], bool],
) -> Outcome:
    """Run the play; ``on_task(task, outcome, message)`` hears each task result on each host, ``cancel()``
    is asked often and stops the run when it says True. Over ssh, ``pins`` (host name → host keys) are the
    only keys accepted."""
    import ansible_runner  # heavy; only workers of zones with a baseline need it

    project = settings.project
    failure: dict[str, str] = {}
    count = 0

    def on_event(event: dict[str, Any]) -> bool:
        nonlocal count
        outcome = _TASK_EVENTS.get(event.get("event", ""))
        data = event.get("event_data", {})
        if outcome is None or data.get("ignore_errors"):
            return False
        count += 1
        task = str(data.get("task") or "unnamed task")
        message = _message(data.get("res", {})) if outcome == "failed" else None
        on_task(task, outcome, f"{data.get('host')}: {message}" if message else str(data.get("host")))
        if outcome == "failed" and not failure:
            failure.update(
                task=task,
                message=message or "failed",
                event=event.get("event", ""),
                host=str(data.get("host")),
            )
        return False  # the request's steps are the record; ansible-runner need not keep the event

    with tempfile.TemporaryDirectory(prefix="cloudsvc-baseline-") as private:
        known_hosts = None
        if settings.connection == "ssh":
            if pins is None or set(pins) != set(hosts):
                raise ValueError("an ssh run needs the pinned host keys of every host")
            known_hosts = Path(private) / "known_hosts"
            host_keys.write_known_hosts(known_hosts, pins)
        runner = ansible_runner.run(
            private_data_dir=private,
            project_dir=str(project),
            playbook=str(project / "playbooks" / settings.playbook),
            inventory=inventory(settings, hosts, known_hosts),
            extravars=extravars(settings, job),
            envvars={
                "ANSIBLE_CONFIG": str(project / "ansible.cfg"),
                "PATH": _path(),
                # whatever the worker's environment says: ansible must not turn the ssh checks off
                "ANSIBLE_HOST_KEY_CHECKING": "True",
                # connections of this run only: none kept open by an earlier run to the same address is reused
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(Path(private) / "cp"),
            },
            event_handler=on_event,
            cancel_callback=cancel,
            timeout=settings.timeout_seconds,
            quiet=True,
        )
        status, rc = runner.status, runner.rc
        tail = "" if status == "successful" else _tail(runner)
    if status == "successful" and rc == 0:
        return Outcome(ok=True, events=count)
    if failure:
        unreachable = failure["event"] == "runner_on_unreachable"
        changed = unreachable and host_keys.mismatch(failure["message"])
        return Outcome(
            ok=False,
            failed_task=failure["task"],
            message=failure["message"],
            events=count,
            unreachable=unreachable and not changed,
            host_key_changed=changed,
            host=failure["host"],
        )
    return Outcome(ok=False, message=f"ansible-runner {status} (rc {rc}): {tail}", events=count)


def _message(res: Mapping[str, Any]) -> str:
    parts = [str(res.get("msg") or "")]
    for key in ("stderr", "module_stderr"):
        if res.get(key):
            parts.append(str(res[key]).strip())
    return " — ".join(p for p in parts if p)[:2000] or "failed"


def _tail(runner: Any) -> str:
    try:
        with runner.stdout as out:
            return str(out.read()).strip()[-1000:]
    except (OSError, AttributeError):
        return ""


def _path() -> str:
    """PATH with this Python's bin directory first, for its ansible-playbook (a venv need not be on PATH)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
