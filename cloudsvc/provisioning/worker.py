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
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloudsvc.audit import service as audit
from cloudsvc.audit.service import SYSTEM
from cloudsvc.config import Settings
from cloudsvc.db import Database, utcnow
from cloudsvc.monitoring.worker_hooks import WorkerMonitor
from cloudsvc.provisioning.jobs import Job, LeaseLost, Ledger
from cloudsvc.provisioning.store import DatabaseStore
from cloudsvc.resource_requests import system
from cloudsvc.resource_requests.lifecycle import Status
from cloudsvc.resource_requests.models import ResourceRequest
from provisioners import base, registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    lease: timedelta = timedelta(seconds=120)
    idle_sleep: float = 1.0  # seconds between passes that found nothing to do
    recheck: timedelta = timedelta(seconds=2)  # look again at resources still building
    retry_base: timedelta = timedelta(seconds=2)
    retry_max: timedelta = timedelta(minutes=2)
    zone_wait: timedelta = timedelta(minutes=30)  # then a request for an unavailable zone fails
    drift_every: timedelta = timedelta(minutes=5)
    batch: int = 20

    @classmethod
    def from_config(cls, config: Settings) -> WorkerSettings:
        return cls(
            lease=timedelta(seconds=config.worker_lease_seconds),
            idle_sleep=config.worker_idle_seconds,
            zone_wait=timedelta(seconds=config.worker_zone_wait_seconds),
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
        self.monitor = WorkerMonitor(database, self.worker_id, clock=clock)

    def run(self, stop: threading.Event) -> None:
        log.info("%s started", self.worker_id)
        while not stop.is_set():
            try:
                busy = self.tick()
            except Exception:  # a broken pass must not end the loop; the next one starts afresh
                log.exception("worker pass failed")
                busy = 0
            self.monitor.after_pass()
            if not busy:
                stop.wait(self.settings.idle_sleep)

    def tick(self) -> int:
        """One pass: claim what is due and move each claimed request one step. Returns how many."""
        claimed = self.ledger.claim(self.clock(), self.settings.batch)
        for request_id in claimed:
            try:
                self.reconcile(request_id)
            except LeaseLost:
                log.warning(
                    "%s lost the lease on %s; leaving it to its new holder", self.worker_id, request_id
                )
        return len(claimed)

    def reconcile(self, request_id: str) -> None:
        job = self.ledger.load(request_id, self.clock())
        try:
            driver = registry.load(
                job.zone_backend, job.zone_settings, store=DatabaseStore(self.database, job.zone_id)
            )
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

    # -- steps -------------------------------------------------------------------------------------------

    def _provision(self, job: Job, driver: base.Driver) -> None:
        self.ledger.record_tenancy(job, driver.ensure_tenancy(job.tenancy), self.clock())
        observed = []
        for key in job.keys:
            seen = driver.observe(key, job.tenancy)
            if seen.state == base.State.absent:
                seen = driver.create(key, job.backend_spec, job.tenancy)
            observed.append((key, seen))
        self.ledger.record_resources(job, observed, self.clock())
        broken = [seen for _, seen in observed if seen.state == base.State.failed]
        if broken:
            raise base.PermanentError(broken[0].message or "the backend reports the resource failed")
        building = sum(seen.state != base.State.ready for _, seen in observed)
        if building:
            self._later(
                job,
                f"{building} of {len(observed)} {job.kind} resources still building",
                self.settings.recheck,
            )
        else:
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
            driver.delete(key, job.tenancy)
            observed.append((key, driver.observe(key, job.tenancy)))
        self.ledger.record_resources(job, observed, self.clock())
        remaining = sum(seen.state != base.State.absent for _, seen in observed)
        if remaining:
            self._later(job, f"{remaining} resources still being deleted", self.settings.recheck)
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

    def _later(self, job: Job, progress: str, delay: timedelta) -> None:
        with self.database.transaction() as session:
            request = self.ledger.owned(session, job.request_id, self.clock())
            self.ledger.step(session, job.request_id, "wait", "waiting", progress)
            request.progress = progress
            self._release(request, next_at=self.clock() + delay)

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
