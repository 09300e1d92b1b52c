"""The reconciling worker.

Each pass claims due requests (leased, so several workers can run) and moves each one step:

    approved         → provisioning (recorded), then as below
    provisioning     ensure the department's tenancy; observe each resource, create what is absent;
                     all ready → active; some still building → look again shortly;
                     one failed, or a permanent error → delete what exists, then failed (with the reason)
    decommissioning  delete each resource; all gone → decommissioned
    active           lease ended → decommissioning; otherwise check the backend still has everything (drift)

Temporary errors retry with exponential backoff; an unavailable zone is waited for, with the reason shown
on the request, and after ``zone_wait`` the request fails. After a crash nothing needs repairing: the
next pass observes what the backend has and carries on from there.

The requests a pass claims are moved side by side (a pass is mostly waiting on the backend), and a zone's
driver is made once and kept, with its connections, tokens and lookups, for the passes that follow
(and for the process's other workers on the same database).
"""

from __future__ import annotations

import heapq
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cloudsvc.audit import service as audit
from cloudsvc.audit.service import SYSTEM
from cloudsvc.config import Settings
from cloudsvc.db import Database, utcnow
from cloudsvc.monitoring.worker_hooks import WorkerMonitor
from cloudsvc.provisioning import baseline, drivers, heartbeat, wakeups
from cloudsvc.provisioning.jobs import Job, LeaseLost, Ledger
from cloudsvc.resource_requests import system
from cloudsvc.resource_requests.lifecycle import Status
from cloudsvc.resource_requests.models import ResourceRequest
from provisioners import base

log = logging.getLogger(__name__)

Observations = list[tuple[base.ResourceKey, base.Observed]]


@dataclass(frozen=True)
class WorkerSettings:
    lease: timedelta = timedelta(seconds=120)
    idle_sleep: float = 1.0  # seconds between passes that found nothing to do
    recheck: timedelta = timedelta(seconds=1)  # look again at resources still building
    retry_base: timedelta = timedelta(seconds=2)
    retry_max: timedelta = timedelta(minutes=2)
    zone_wait: timedelta = timedelta(minutes=30)  # then a request for an unavailable zone fails
    drift_every: timedelta = timedelta(minutes=5)
    batch: int = 8  # requests claimed per pass, and moved side by side
    heartbeat_file: Path | None = None  # rewritten on every turn of run()'s loop (cloudsvc worker --check)

    @classmethod
    def from_config(cls, config: Settings) -> WorkerSettings:
        return cls(
            lease=timedelta(seconds=config.worker_lease_seconds),
            idle_sleep=config.worker_idle_seconds,
            zone_wait=timedelta(seconds=config.worker_zone_wait_seconds),
            heartbeat_file=config.worker_heartbeat_file,
        )


class Worker:
    def __init__(
        self,
        database: Database,
        settings: WorkerSettings | None = None,
        *,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.settings = settings or WorkerSettings()
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.clock = clock
        self.ledger = Ledger(database, self.worker_id, self.settings.lease)
        # SQLite has one writer and takes its lock for every transaction: movers side by side would only
        # queue for it (and starve each other on its busy handler), so the embedded default moves one.
        self.movers = 1 if database.is_sqlite else self.settings.batch
        self._drivers = drivers.shared(database)
        self._rechecks: list[datetime] = []  # heap: when requests this worker let go to look again are due
        self._rechecks_lock = threading.Lock()
        self.monitor = WorkerMonitor(database, self.worker_id, clock=clock, drivers=self.driver_for)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: keep up to ``movers`` requests moving, each in its own thread, and claim more
        as soon as one's step ends, work is announced (wakeups.py), or every ``idle_sleep`` seconds: none
        waits for a slow one."""
        log.info("%s started", self.worker_id)
        collector = threading.Thread(
            target=self._collect_usage, args=(stop,), name=f"{self.worker_id}-usage", daemon=True
        )
        collector.start()
        nudge = wakeups.Nudge()
        unsubscribe = wakeups.listener(self.database).subscribe(nudge.set)
        threading.Thread(target=_set_when, args=(stop, nudge), daemon=True).start()
        try:
            with ThreadPoolExecutor(self.movers, thread_name_prefix=self.worker_id) as pool:
                self._keep_moving(stop, nudge, pool)
        finally:
            unsubscribe()
        collector.join()

    def _keep_moving(self, stop: threading.Event, nudge: wakeups.Nudge, pool: ThreadPoolExecutor) -> None:
        moving: dict[Future[None], str] = {}  # → the request it moves
        # Claimed again while still being moved: the step in flight has already let the request go
        # (due again at once, or it outlasted its lease). The claim leased it to this worker, so this
        # worker moves it once more when that step ends; ignored, it would sit out a whole lease.
        again: set[str] = set()
        while not stop.is_set():
            self._beat()
            nudged = nudge.pending()
            room = self.movers - len(moving)
            try:
                claimed = self.ledger.claim(self.clock(), room) if room else []
            except Exception:  # a broken claim must not end the loop; the next one starts afresh
                log.exception("worker pass failed")
                claimed = []
            in_motion = set(moving.values())
            for request_id in claimed:
                if request_id in in_motion:
                    again.add(request_id)  # never two threads on one request
                else:
                    moving[pool.submit(self._move, request_id)] = request_id
            self.monitor.after_pass(collect=False)  # usage: in the collector thread
            done, _ = wait([*moving, nudged], timeout=self._pause(), return_when=FIRST_COMPLETED)
            for future in done:
                if future is nudged:
                    continue
                request_id = moving.pop(future)
                if (error := future.exception()) is not None:
                    log.error("worker pass failed", exc_info=error)
                if request_id in again:
                    again.discard(request_id)
                    moving[pool.submit(self._move, request_id)] = request_id

    def _beat(self) -> None:
        if self.settings.heartbeat_file is None:
            return
        try:
            heartbeat.beat(self.settings.heartbeat_file, self.worker_id, self.clock())
        except OSError:  # a full or read-only disk must not stop the work; the probe will say so
            log.exception("%s could not write its heartbeat", self.worker_id)

    def _collect_usage(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.monitor.collect_usage_if_due()
            stop.wait(self.settings.idle_sleep)

    def tick(self) -> int:
        """One pass: claim what is due and move each claimed request one step. Returns how many."""
        claimed = self.ledger.claim(self.clock(), self.settings.batch)
        if len(claimed) > 1 and self.movers > 1:
            # Each request in its own thread: one waiting on a slow backend call holds up no other.
            with ThreadPoolExecutor(len(claimed), thread_name_prefix=self.worker_id) as pool:
                list(pool.map(self._move, claimed))
        else:
            for request_id in claimed:
                self._move(request_id)
        return len(claimed)

    def _pause(self) -> float:
        """Seconds until the next claim: ``idle_sleep``, or less if a recheck this worker set falls due."""
        now = self.clock()
        with self._rechecks_lock:
            while self._rechecks and self._rechecks[0] <= now:  # due already: the claim just made saw them
                heapq.heappop(self._rechecks)
            soonest = self._rechecks[0] if self._rechecks else None
        if soonest is None:
            return self.settings.idle_sleep
        return min(self.settings.idle_sleep, (soonest - now).total_seconds())

    def _move(self, request_id: str) -> None:
        try:
            self.reconcile(request_id)
        except LeaseLost:
            log.warning("%s lost the lease on %s; leaving it to its new holder", self.worker_id, request_id)

    def reconcile(self, request_id: str) -> None:
        job = self.ledger.load(request_id, self.clock())
        try:
            driver = self._driver(job)
            if job.status == Status.approved:
                self._transition(job, system.begin_provisioning, step="begin provisioning", keep_lease=True)
                job.status = Status.provisioning
            if job.status == Status.provisioning:
                if job.failure_reason:
                    self._clean_up(job, driver)
                else:
                    self._provision(job, driver)
            elif job.status == Status.decommissioning:
                self._decommission(job, driver)
            elif job.status == Status.active:
                self._watch(job, driver)
        except base.TemporaryError as exc:
            self.monitor.backend_error(zone_id=job.zone_id, kind=job.kind, error=exc)
            self._retry_later(job, exc)
        except base.PermanentError as exc:
            self.monitor.backend_error(zone_id=job.zone_id, kind=job.kind, error=exc)
            self._begin_failure(job, str(exc))

    def _driver(self, job: Job) -> base.Driver:
        return self.driver_for(job.zone_id, job.zone_backend, job.zone_settings)

    def driver_for(self, zone_id: int, backend: str, settings: dict[str, Any]) -> base.Driver:
        """The zone's driver, shared with the process's other workers on this database (see drivers.py)."""
        return self._drivers.get(self.database, zone_id, backend, settings)

    # -- steps -------------------------------------------------------------------------------------------

    def _provision(self, job: Job, driver: base.Driver) -> None:
        unmade = {
            key.index
            for key in job.keys
            if (before := job.seen.get(key.index)) is None or before.state == base.State.absent
        }
        if unmade:  # later passes only look at what is building: the tenancy is left alone
            self.ledger.record_tenancy(job, driver.ensure_tenancy(job.tenancy), self.clock())
        # Recorded before the first attempt to make them, so that any later attempt (after a crash, say)
        # knows to look for what this one may have made; this one need not look.
        first = [key for key in job.keys if key.index not in job.seen]
        if first:
            self.ledger.record_resources(job, [(key, base.Observed.absent()) for key in first], self.clock())
        observed = []
        for key in job.keys:
            if key.index in unmade:
                # Never seen made: create, which looks first (unless never attempted) and never makes two.
                seen = driver.create(key, job.backend_spec, job.tenancy, first=key in first)
            else:
                seen = driver.observe(key, job.tenancy)
                if seen.state == base.State.absent:  # it went away: make it again
                    seen = driver.create(key, job.backend_spec, job.tenancy)
            observed.append((key, seen))
        broken = [seen for _, seen in observed if seen.state == base.State.failed]
        building = sum(seen.state != base.State.ready for _, seen in observed)
        if building and not broken:  # the pass most often made: one transaction records and lets go
            self._recheck(
                job, f"{building} of {len(observed)} {job.kind} resources still building", observed=observed
            )
            return
        self.ledger.record_resources(job, observed, self.clock())
        if broken:
            raise base.PermanentError(broken[0].message or "the backend reports the resource failed")
        baseline.apply(self.database, self.ledger, job, observed, self.clock, driver)  # if the zone wants one
        self._transition(job, system.mark_active, step="provisioned")

    def _decommission(self, job: Job, driver: base.Driver) -> None:
        if self._delete_all(job, driver):
            self._transition(job, system.mark_decommissioned, step="decommissioned")

    def _clean_up(self, job: Job, driver: base.Driver) -> None:
        assert job.failure_reason is not None
        if self._delete_all(job, driver):
            reason = job.failure_reason
            self._transition(job, lambda s, rid: system.mark_failed(s, rid, reason=reason), step="failed")

    def _delete_all(self, job: Job, driver: base.Driver) -> bool:
        """Delete every resource of the request; True once the backend has none left."""
        observed = []
        for key in job.keys:
            before = job.seen.get(key.index)
            seen = None
            if before is not None and before.state == base.State.deleting:
                seen = driver.observe(key, job.tenancy)  # on its way out when last seen: look first
            if seen is None or seen.state not in (base.State.absent, base.State.deleting):
                driver.delete(key, job.tenancy)
                seen = driver.observe(key, job.tenancy)
            observed.append((key, seen))
        remaining = sum(seen.state != base.State.absent for _, seen in observed)
        if remaining:
            self._recheck(job, f"{remaining} resources still being deleted", observed=observed)
        else:
            self.ledger.record_resources(job, observed, self.clock())
        return not remaining

    def _watch(self, job: Job, driver: base.Driver) -> None:
        now = self.clock()
        if job.lease_expires_at is not None and job.lease_expires_at <= now:
            self._transition(job, system.begin_decommissioning, step="lease ended")
            return
        missing = [key for key in job.keys if driver.observe(key, job.tenancy).state == base.State.absent]
        with self.database.transaction() as session:
            request = self.ledger.owned(session, job.request_id, now)
            drift = f"{', '.join(k.name for k in missing)} vanished from the backend" if missing else None
            if drift and drift != request.drift:
                self.ledger.step(session, job.request_id, "drift check", "failed", drift)
                audit.record(
                    session,
                    actor=SYSTEM,
                    action="request.drift",
                    target_type="request",
                    target_id=job.request_id,
                    outcome="error",
                    detail={"missing": [k.name for k in missing]},
                )
            request.drift = drift
            self._release(request, next_at=now + self.settings.drift_every)

    # -- bookkeeping -------------------------------------------------------------------------------------

    def _transition(
        self, job: Job, move: Callable[..., ResourceRequest], *, step: str, keep_lease: bool = False
    ) -> None:
        with self.database.transaction() as session:
            request = self.ledger.owned(session, job.request_id, self.clock())
            move(session, job.request_id)
            self.ledger.step(session, job.request_id, step, "done")
            request.failure_reason = None
            request.waiting_since = None
            request.attempts = 0
            request.progress = step
            if not keep_lease:  # this pass goes on with the request
                later = self.clock() + self.settings.drift_every if request.status == Status.active else None
                self._release(request, next_at=later)

    def _recheck(self, job: Job, progress: str, *, observed: Observations) -> None:
        """Record what was seen and look again ``recheck`` after this pass began looking (a slow pass is
        not waited for twice)."""
        next_at = max(self.clock(), job.loaded_at + self.settings.recheck)
        with self.database.transaction() as session:
            request = self.ledger.owned(session, job.request_id, self.clock())
            self.ledger.record_resources(job, observed, self.clock(), session=session)
            if request.progress != progress:  # a wait that goes on is one step in the history, not one a pass
                self.ledger.step(session, job.request_id, "wait", "waiting", progress)
            request.progress = progress
            self._release(request, next_at=next_at)
        with self._rechecks_lock:
            heapq.heappush(self._rechecks, next_at)

    def _retry_later(self, job: Job, error: base.TemporaryError) -> None:
        now = self.clock()
        since = job.waiting_since or now
        if isinstance(error, base.ZoneUnavailable) and now - since >= self.settings.zone_wait:
            waited = int(self.settings.zone_wait.total_seconds())
            self._begin_failure(job, f"the zone was unavailable for {waited} s: {error}", zone_gone=True)
            return
        delay = min(self.settings.retry_base * 2**job.attempts, self.settings.retry_max)
        with self.database.transaction() as session:
            request = self.ledger.owned(session, job.request_id, now)
            self.ledger.step(session, job.request_id, "retry", "retry", str(error))
            request.attempts = job.attempts + 1
            request.waiting_since = since
            request.progress = f"waiting: {error}"
            self._release(request, next_at=now + delay)

    def _begin_failure(self, job: Job, reason: str, *, zone_gone: bool = False) -> None:
        """A permanent failure. Whatever may exist on the backend is deleted first (later passes), so the
        request ends failed with nothing left behind; when the zone itself is gone and nothing was seen
        created, there is nothing to delete and it fails at once."""
        with self.database.transaction() as session:
            request = self.ledger.owned(session, job.request_id, self.clock())
            self.ledger.step(session, job.request_id, "failure", "failed", reason)
            if request.status == Status.decommissioning:  # resources must not leak: keep deleting
                request.progress = f"decommission retrying after: {reason}"
                self._release(request, next_at=self.clock() + self.settings.retry_max)
                return
            made = any(r.state != base.State.absent for r in job.seen.values())
            if request.status == Status.approved or (zone_gone and not made):
                system.mark_failed(session, job.request_id, reason=reason)
                request.progress = "failed"
                self._release(request, next_at=None)
                return
            request.failure_reason = reason
            request.progress = f"cleaning up after failure: {reason}"
            self._release(request, next_at=self.clock())

    @staticmethod
    def _release(request: ResourceRequest, *, next_at: datetime | None) -> None:
        request.lease_owner = None
        request.lease_until = None
        request.next_attempt_at = next_at


def _set_when(stop: threading.Event, nudge: wakeups.Nudge) -> None:
    """Wake the worker's wait as soon as it is told to stop."""
    stop.wait()
    nudge.set()
