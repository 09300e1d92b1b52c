"""The database side of the worker: claiming requests, reading what a step needs, recording what it did.

Every write happens in a short transaction that first checks this worker still holds the request's lease
(a fence: a worker that stalled past its lease and lost the request to another changes nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, joinedload, lazyload

from cloudsvc.db import Database, upsert
from cloudsvc.provisioning.models import ProvisionedResource, ProvisioningStep
from cloudsvc.provisioning.models import Tenancy as TenancyRow
from cloudsvc.quotas import service as quotas
from cloudsvc.resource_requests.lifecycle import Status
from cloudsvc.resource_requests.models import ResourceRequest
from provisioners import base

CLAIMABLE = (Status.approved, Status.provisioning, Status.decommissioning, Status.active)


class LeaseLost(Exception):
    """Another worker holds the request now; this one must let go without writing anything."""


@dataclass
class Job:
    """A snapshot of one claimed request: all a step needs, read in one transaction."""

    request_id: str
    status: Status
    kind: str
    spec: dict[str, Any]
    zone_id: int
    zone_backend: str
    zone_settings: dict[str, Any]
    department_id: int
    tenancy: base.Tenancy
    failure_reason: str | None
    waiting_since: datetime | None
    attempts: int
    lease_expires_at: datetime | None
    loaded_at: datetime  # when this pass read it: what it then sees of the backend is from about then
    seen: dict[int, ProvisionedResource] = field(default_factory=dict)

    @property
    def keys(self) -> list[base.ResourceKey]:
        count = int(self.spec.get("count", 1)) if self.kind == "server" else 1
        return [base.ResourceKey(self.request_id, i, base.Kind(self.kind)) for i in range(count)]

    @property
    def backend_spec(self) -> base.Spec:
        if self.kind == "server":
            s = self.spec
            return base.ServerSpec(
                vcpus=s["vcpus"], ram_mb=s["ram_mb"], disk_gb=s["disk_gb"], image=s["image"]
            )
        if self.kind == "volume":
            return base.VolumeSpec(size_gb=self.spec["size_gb"], volume_type=self.spec["volume_type"])
        return base.BandwidthSpec(mbps=self.spec["mbps"], direction=self.spec["direction"])


class Ledger:
    """Claims and bookkeeping for one worker identity."""

    def __init__(self, database: Database, worker_id: str, lease: timedelta) -> None:
        self.database = database
        self.worker_id = worker_id
        self.lease = lease

    def claim(self, now: datetime, limit: int) -> list[str]:
        """Requests due for work, leased to this worker. Several workers never get the same one."""
        due = or_(ResourceRequest.next_attempt_at.is_(None), ResourceRequest.next_attempt_at <= now)
        lease_ended = and_(ResourceRequest.status == Status.active, ResourceRequest.lease_expires_at <= now)
        query = (
            select(ResourceRequest.id)
            .where(
                ResourceRequest.status.in_(CLAIMABLE),
                ResourceRequest.kind != "quota",
                or_(ResourceRequest.lease_until.is_(None), ResourceRequest.lease_until < now),
                or_(due, lease_ended),
            )
            .order_by(ResourceRequest.updated_at)
            .limit(limit)
            .with_for_update(
                skip_locked=True
            )  # PostgreSQL: others skip what we hold; SQLite: one writer anyway
        )
        with self.database.transaction() as session:
            ids = list(session.scalars(query))
            if ids:
                session.execute(
                    update(ResourceRequest)
                    .where(ResourceRequest.id.in_(ids))
                    .values(lease_owner=self.worker_id, lease_until=now + self.lease)
                    .execution_options(synchronize_session=False)
                )
        return ids

    def owned(
        self, session: Session, request_id: str, now: datetime, *, with_zone: bool = False
    ) -> ResourceRequest:
        """The request, row-locked, if this worker still holds it (its lease extended); else LeaseLost.

        With ``with_zone`` its department and zone come in the same query; otherwise they, and its history,
        load only when asked for: most passes only check and extend the lease.
        """
        eager = [joinedload(ResourceRequest.department), joinedload(ResourceRequest.zone)]
        request = (
            session.scalars(
                select(ResourceRequest)
                .options(lazyload("*"), *(eager if with_zone else ()))
                .where(ResourceRequest.id == request_id)
                .with_for_update(of=ResourceRequest)
            )
            .unique()
            .one_or_none()
        )
        if request is None or request.lease_owner != self.worker_id:
            raise LeaseLost(request_id)
        request.lease_until = now + self.lease
        return request

    def load(self, request_id: str, now: datetime) -> Job:
        with self.database.transaction() as session:
            request = self.owned(session, request_id, now, with_zone=True)
            assert request.zone is not None  # claim() excludes quota changes, the only zoneless kind
            usage = quotas.usage_by_department(session, [request.department_id])[request.department_id]
            limits = {cls.value: u.limit for cls, u in usage.items()}
            seen = {
                r.index: r
                for r in session.scalars(
                    select(ProvisionedResource).where(ProvisionedResource.request_id == request_id)
                )
            }
            for row in seen.values():
                session.expunge(row)
            department = request.department
            return Job(
                request_id=request.id,
                status=Status(request.status),
                kind=request.kind,
                spec=dict(request.spec),
                zone_id=request.zone.id,
                zone_backend=request.zone.backend,
                zone_settings=dict(request.zone.settings),
                department_id=department.id,
                tenancy=base.Tenancy(
                    department_code=department.code,
                    department_name=department.name,
                    level=department.level,
                    classification=request.classification,
                    mlps_level=request.mlps_level,
                    limits=limits,
                ),
                failure_reason=request.failure_reason,
                waiting_since=request.waiting_since,
                attempts=request.attempts,
                lease_expires_at=request.lease_expires_at,
                loaded_at=now,
                seen=seen,
            )

    def step(
        self, session: Session, request_id: str, step: str, outcome: str, message: str | None = None
    ) -> None:
        session.add(ProvisioningStep(request_id=request_id, step=step, outcome=outcome, message=message))

    def record_tenancy(self, job: Job, ref: base.TenancyRef, now: datetime) -> None:
        with self.database.transaction() as session:
            self.owned(session, job.request_id, now)
            # Requests of one department, moved side by side, record its first tenancy at the same moment.
            upsert(
                session,
                TenancyRow,
                {
                    "department_id": job.department_id,
                    "zone_id": job.zone_id,
                    "backend_id": ref.backend_id,
                    "details": dict(ref.details),
                    "updated_at": now,
                },
                keys=["department_id", "zone_id"],
            )

    def record_resources(
        self,
        job: Job,
        observed: Sequence[tuple[base.ResourceKey, base.Observed]],
        now: datetime,
        *,
        session: Session | None = None,
    ) -> None:
        """Record what the backend has; in ``session`` when given (whose transaction checked the lease)."""
        if session is None:
            with self.database.transaction() as own:
                self.owned(own, job.request_id, now)
                self._merge_resources(own, job, observed)
        else:
            self._merge_resources(session, job, observed)

    @staticmethod
    def _merge_resources(
        session: Session, job: Job, observed: Sequence[tuple[base.ResourceKey, base.Observed]]
    ) -> None:
        for key, seen in observed:
            row = ProvisionedResource(
                request_id=key.request_id,
                index=key.index,
                kind=key.kind.value,
                name=key.name,
                backend_id=seen.backend_id,
                state=seen.state.value,
                addresses=list(seen.addresses),
                message=seen.message,
            )
            before = job.seen.get(key.index)
            if before is not None and before.backend_id != seen.backend_id:
                row.host_keys = None  # another object (made again) under the same name: new keys
            session.merge(row)  # what is left unset (host_keys otherwise) keeps its stored value

    def record_host_keys(self, job: Job, pins: Mapping[int, Sequence[str]], now: datetime) -> None:
        """Pin servers' SSH host keys (by resource index): later baseline runs accept no others."""
        with self.database.transaction() as session:
            self.owned(session, job.request_id, now)
            for index, keys in pins.items():
                row = session.get(ProvisionedResource, (job.request_id, index))
                assert row is not None  # recorded before the first attempt to make it
                row.host_keys = list(keys)
