"""Running one cutover playbook through ansible-runner, and reading what happened from its events.

ansible-runner starts ``ansible-playbook`` in a child process with a private data directory of its own;
we keep the task-level events (name, host, outcome, message) and the stdout, and name the task that failed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

_KEPT_EVENTS = frozenset({"runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"})
_MAX_STDOUT = 65_536


@dataclass(frozen=True)
class PlaybookRun:
    ok: bool
    failed_task: str | None
    message: str | None
    stdout: str
    events: list[dict[str, Any]] = field(default_factory=list)


def _event(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("event_data", {})
    result = data.get("res") or {}
    return {
        "event": event.get("event"),
        "task": data.get("task"),
        "host": data.get("host"),
        "changed": bool(result.get("changed", False)) if isinstance(result, dict) else False,
        "msg": str(result.get("msg"))[:2000] if isinstance(result, dict) and result.get("msg") else None,
    }


def run(
    playbook_dir: Path,
    playbook: str,
    extravars: dict[str, Any],
    *,
    inventory: str,
    cancel: Callable[[], bool] | None = None,
) -> PlaybookRun:
    """Run ``playbook_dir/playbook``; never raises for a failing playbook (that is a result, not an error).

    ``cancel`` is asked every few seconds while the playbook runs; when it says True, ansible-runner stops
    the run (it then ends ``canceled``, a failed result).
    """
    # ansible-playbook lives beside our interpreter (the virtualenv's bin), which need not be on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    with tempfile.TemporaryDirectory(prefix="cloudsvc-ansible-") as private:
        runner = ansible_runner.run(
            private_data_dir=private,
            project_dir=str(playbook_dir),
            playbook=playbook,
            inventory=inventory,
            extravars=extravars,
            envvars={"PATH": path, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_PYTHON_INTERPRETER": sys.executable},
            quiet=True,
            json_mode=False,
            cancel_callback=cancel,
        )
        events = [_event(e) for e in runner.events if e.get("event") in _KEPT_EVENTS]
        with runner.stdout as handle:  # each access opens the artifact file anew
            stdout = handle.read()[-_MAX_STDOUT:]
    failed = next((e for e in events if e["event"] in ("runner_on_failed", "runner_on_unreachable")), None)
    ok = runner.status == "successful" and runner.rc == 0
    message = None
    if not ok:
        message = (failed or {}).get("msg") or f"ansible-playbook ended {runner.status} (rc {runner.rc})"
    return PlaybookRun(
        ok=ok,
        failed_task=failed["task"] if failed else None,
        message=message,
        stdout=stdout,
        events=events,
    )
