"""The worker's heartbeat: a small file it rewrites on every turn of its loop, and the check that reads it
(``cloudsvc worker --check``, the worker container's liveness probe).

A file rather than a database row: liveness is about this process, and a worker whose database is down is
alive and waiting (its loop goes on, logging the failed claims), so restarting it would not help. What the
probe catches is a loop that no longer turns: a deadlock, a hang outside any timeout, a dead main thread.
The file is replaced whole (written beside it, then renamed), so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Beat:
    worker_id: str
    pid: int
    at: float  # POSIX seconds, from the worker's clock


def beat(path: Path, worker_id: str, now: datetime) -> None:
    """Record that the worker's loop turned at ``now``."""
    body = json.dumps({"worker_id": worker_id, "pid": os.getpid(), "at": now.timestamp()})
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(body)
    os.replace(partial, path)


def read(path: Path) -> Beat | None:
    """The last beat, or None if there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text())
        return Beat(worker_id=str(data["worker_id"]), pid=int(data["pid"]), at=float(data["at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stale(path: Path, *, max_age: float, now: datetime) -> str | None:
    """Why the worker counts as dead (no beat, or one older than ``max_age`` seconds), or None if alive."""
    last = read(path)
    if last is None:
        return f"no heartbeat in {path}"
    age = now.timestamp() - last.at
    if age > max_age:
        return f"{last.worker_id} (pid {last.pid}) last beat {age:.0f} s ago, more than {max_age:g} s"
    return None
