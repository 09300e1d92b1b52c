"""What the provisioning worker reports for monitoring, behind hooks it calls: ``backend_error`` when a
driver call fails, ``after_pass`` after each pass (its heartbeat), and ``collect_usage_if_due`` from a
thread of its own (backend usage now and then: asking clouds must not hold up claiming requests).

Monitoring must never stop provisioning: a failure here is logged and the worker goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from cloudsvc.db import Database, utcnow
from cloudsvc.monitoring import backend_usage, recording
from provisioners import base

log = logging.getLogger(__name__)


def _usage_round_lock(_: Database) -> threading.Lock:
    """Held by the one worker of a process (and database) asking the backends for usage right now: the
    workers of one process that fall due together would otherwise each ask the clouds about the same
    servers (each round sees the others' as not yet asked)."""
    return threading.Lock()


class WorkerMonitor:
    def __init__(
        self,
        database: Database,
        worker_id: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        drivers: backend_usage.DriverFor | None = None,  # the worker's own, kept between rounds
        pass_every: timedelta = timedelta(seconds=15),  # heartbeat at most this often
        usage_every: timedelta = timedelta(seconds=60),
        usage_batch: int = 100,  # servers asked about per round
    ) -> None:
        self.database = database
        self.worker_id = worker_id
        self.clock = clock
        self.pass_every = pass_every
        self.usage_every = usage_every
        self.usage_batch = usage_batch
        self._last_pass: datetime | None = None
        self._next_usage: datetime | None = None
        self._drivers = drivers

    def backend_error(self, *, zone_id: int, kind: str, error: base.DriverError) -> None:
        try:
            with self.database.transaction() as session:
                recording.count_backend_error(session, zone_id=zone_id, kind=kind, error=error)
        except Exception:
            log.exception("could not count a backend error")

    def after_pass(self, *, collect: bool = True) -> None:
        """The heartbeat, at most every ``pass_every``; with ``collect``, backend usage too if due."""
        now = self.clock()
        try:
            if self._last_pass is None or now - self._last_pass >= self.pass_every:
                with self.database.transaction() as session:
                    recording.record_pass(session, worker_id=self.worker_id, at=now)
                self._last_pass = now
        except Exception:
            log.exception("monitoring after a worker pass failed")
        if collect:
            self.collect_usage_if_due()

    def collect_usage_if_due(self) -> None:
        """Ask the backends about the servers whose figures are oldest, every ``usage_every``."""
        now = self.clock()
        if self._next_usage is not None and now < self._next_usage:
            return
        self._next_usage = now + self.usage_every
        round_lock = self.database.companion(_usage_round_lock)
        if not round_lock.acquire(blocking=False):
            return  # another worker of this process is asking right now: its round serves this one's
        try:
            backend_usage.collect(
                self.database,
                now=now,
                limit=self.usage_batch,
                stale_after=self.usage_every,
                drivers=self._drivers,
            )
        except Exception:
            log.exception("collecting backend usage failed")
        finally:
            round_lock.release()
