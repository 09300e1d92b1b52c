"""The sample sources behind ``GET /metrics``: each is a function (session) → metric families.

Each reads aggregates in one or two queries (GROUP BY in the database, never a query per department), so
a scrape costs a handful of statements whatever the size of the tree. To export something new, write a
function here (or anywhere) and add it to ``SOURCES``.

Units are Prometheus base units: quota classes kept in MiB, GiB or Mbit/s are exported in bytes and
bits per second, and their ``class`` label names the unit.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, time

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from cloudsvc import __version__
from cloudsvc.db import utcnow
from cloudsvc.departments.models import Department
from cloudsvc.migration.progress import migration_kpis
from cloudsvc.monitoring.exposition import BulkGauge, label_text
from cloudsvc.monitoring.models import AuditVerificationResult, BackendErrorCount, BackendUsage, WorkerPass
from cloudsvc.provisioning.jobs import CLAIMABLE
from cloudsvc.provisioning.models import ProvisionedResource
from cloudsvc.quotas.usage import all_usage
from cloudsvc.resource_requests.lifecycle import Status
from cloudsvc.resource_requests.models import RequestTransition, ResourceRequest
from cloudsvc.zones.models import Zone

Source = Callable[[Session], Iterable[Metric]]

# Quota class → (exported class name, factor to the base unit). GB and MB are the binary units Nova and
# Cinder mean by them.
QUOTA_UNITS: dict[str, tuple[str, int]] = {
    "servers": ("servers", 1),
    "vcpus": ("vcpus", 1),
    "ram_mb": ("ram_bytes", 2**20),
    "volumes": ("volumes", 1),
    "volume_gb": ("volume_bytes", 2**30),
    "bandwidth_mbps": ("bandwidth_bits_per_second", 10**6),
}
HOUR, DAY = 3600.0, 86400.0
APPROVAL_WAIT_BUCKETS = (60.0, 300.0, 900.0, HOUR, 4 * HOUR, 8 * HOUR, DAY, 3 * DAY, 7 * DAY)
PROVISIONING_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def _timestamp(value: datetime) -> float:
    return value.timestamp()


def quotas(session: Session) -> Iterable[Metric]:
    labels = ["department", "parent", "level", "class"]
    limit = BulkGauge(
        "cloudsvc_quota_limit", "Quota limit of a department, in the unit its class names", labels
    )
    in_use = BulkGauge(
        "cloudsvc_quota_in_use", "Quota in use, rolled up over the department's subtree", labels
    )
    reserved = BulkGauge(
        "cloudsvc_quota_reserved",
        "Quota reserved by requests not yet provisioned, rolled up over the subtree",
        labels,
    )
    # Tens of thousands of rows: a department's labels are escaped once, for all its classes and the
    # three samples of each (its rows come one after another).
    department, prefix = None, ""
    for row in all_usage(session):
        name, factor = QUOTA_UNITS.get(row.quota_class, (row.quota_class, 1))
        values = (row.department_code, row.parent_code or "", row.level, name)
        if row.department_code != department:
            department, prefix = row.department_code, label_text(labels[:3], values[:3])
        text = f'{prefix},class="{name}"'
        if row.limit is not None:  # no sample: no limit of its own
            limit.add(text, values, row.limit * factor)
        in_use.add(text, values, row.in_use * factor)
        reserved.add(text, values, row.reserved * factor)
    return (limit, in_use, reserved)


def departments(session: Session) -> Iterable[Metric]:
    family = GaugeMetricFamily("cloudsvc_departments", "Departments by level", labels=["level"])
    query = select(Department.level, func.count()).group_by(Department.level)
    for level, count in session.execute(query):
        family.add_metric([level], count)
    return (family,)


def resources(session: Session) -> Iterable[Metric]:
    family = GaugeMetricFamily(
        "cloudsvc_resources",
        "Backend objects as the worker last saw them, by zone, kind and state",
        labels=["zone", "kind", "state"],
    )
    query = (
        select(Zone.name, ProvisionedResource.kind, ProvisionedResource.state, func.count())
        .join(ResourceRequest, ResourceRequest.id == ProvisionedResource.request_id)
        .join(Zone, Zone.id == ResourceRequest.zone_id)
        .group_by(Zone.name, ProvisionedResource.kind, ProvisionedResource.state)
    )
    for zone, kind, state, count in session.execute(query):
        family.add_metric([zone, kind, state], count)
    return (family,)


def requests(session: Session) -> Iterable[Metric]:
    family = GaugeMetricFamily(
        "cloudsvc_requests", "Resource and quota requests by status and kind", labels=["status", "kind"]
    )
    query = select(ResourceRequest.status, ResourceRequest.kind, func.count()).group_by(
        ResourceRequest.status, ResourceRequest.kind
    )
    for status, kind, count in session.execute(query):
        family.add_metric([status, kind], count)
    return (family,)


# Statuses a request should not sit in for long; how long it has sat is exported (terminal ones and
# active, where requests live for their lease, are left out).
WAITING_STATUSES = (
    Status.pending_approval,
    Status.approved,
    Status.provisioning,
    Status.decommissioning,
)


def requests_waiting(session: Session) -> Iterable[Metric]:
    """Per status, how long the request longest in it has been there (since its last transition)."""
    family = GaugeMetricFamily(
        "cloudsvc_requests_oldest_in_status_seconds",
        "Time since the request longest in this status entered it",
        labels=["status"],
    )
    entered = (
        select(ResourceRequest.status.label("status"), func.max(RequestTransition.at).label("at"))
        .join(RequestTransition, RequestTransition.request_id == ResourceRequest.id)
        .where(ResourceRequest.status.in_(WAITING_STATUSES))
        .group_by(ResourceRequest.id, ResourceRequest.status)
        .subquery()
    )
    now = utcnow()
    oldest_per_status = select(entered.c.status, func.min(entered.c.at)).group_by(entered.c.status)
    for status, oldest in session.execute(oldest_per_status):
        family.add_metric([status], max((now - oldest).total_seconds(), 0.0))
    return (family,)


def provisioning_outcomes(session: Session) -> Iterable[Metric]:
    """Provisioning attempts that ended, by outcome: the failure rate's numerator and denominator."""
    family = CounterMetricFamily(
        "cloudsvc_provisionings",
        "Provisioning attempts that ended: active, or failed",
        labels=["outcome"],
    )
    ended = case((RequestTransition.to_status == Status.active, "active"), else_="failed")
    query = (
        select(ended, func.count())
        .where(
            RequestTransition.from_status.in_((Status.approved, Status.provisioning)),
            RequestTransition.to_status.in_((Status.active, Status.failed)),
        )
        .group_by(ended)
    )
    counts: dict[str, int] = dict.fromkeys(("active", "failed"), 0)
    for outcome, count in session.execute(query):
        counts[outcome] = count
    for outcome, count in counts.items():
        family.add_metric([outcome], count)
    return (family,)


def _histogram(
    session: Session, name: str, doc: str, bounds: Sequence[float], moved_from: Status, moved_to: Status
) -> HistogramMetricFamily:
    """The time requests spent in ``moved_from`` before moving to ``moved_to``: bucket counts, count
    and sum from one index-only pass over those transitions, counted by the database."""
    seconds = RequestTransition.seconds_in_status
    counts = [func.coalesce(func.sum(case((seconds <= bound, 1), else_=0)), 0) for bound in bounds]
    query = select(*counts, func.count(seconds), func.coalesce(func.sum(seconds), 0.0)).where(
        RequestTransition.to_status == moved_to,
        RequestTransition.from_status == moved_from,
        seconds.is_not(None),
    )
    *cumulative, count, total = session.execute(query).one()
    buckets = [(repr(bound), float(n)) for bound, n in zip(bounds, cumulative, strict=True)]
    buckets.append(("+Inf", float(count)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=float(total))


def approval_wait(session: Session) -> Iterable[Metric]:
    """From submission to approval, over every request ever approved (auto-approved ones wait 0 s)."""
    doc = "Time from a request's submission to its approval"
    bounds = APPROVAL_WAIT_BUCKETS
    name = "cloudsvc_request_approval_wait_seconds"
    return (_histogram(session, name, doc, bounds, Status.pending_approval, Status.approved),)


def provisioning_duration(session: Session) -> Iterable[Metric]:
    """From the worker taking up an approved request to the request being active."""
    doc = "Time from the start of provisioning to the request being active"
    bounds = PROVISIONING_BUCKETS
    name = "cloudsvc_provisioning_duration_seconds"
    return (_histogram(session, name, doc, bounds, Status.provisioning, Status.active),)


def backend_errors(session: Session) -> Iterable[Metric]:
    family = CounterMetricFamily(
        "cloudsvc_backend_errors",
        "Failed backend (driver) calls, by zone, resource kind and error class",
        labels=["zone", "kind", "error"],
    )
    query = select(Zone.name, BackendErrorCount.kind, BackendErrorCount.error, BackendErrorCount.count).join(
        Zone, Zone.id == BackendErrorCount.zone_id
    )
    for zone, kind, error, count in session.execute(query):
        family.add_metric([zone, kind, error], count)
    return (family,)


def backend_usage(session: Session) -> Iterable[Metric]:
    """What the backends report servers actually use, summed per department and zone."""
    labels = ["department", "zone"]
    cpu = BulkGauge(
        "cloudsvc_backend_cpu_seconds",
        "CPU time the department's servers have used, as the backend last reported it",
        labels,
    )
    memory = BulkGauge(
        "cloudsvc_backend_memory_used_bytes",
        "Memory the department's servers use, as the backend last reported it",
        labels,
    )
    reporting = BulkGauge(
        "cloudsvc_backend_usage_resources", "Resources whose backend reported usage", labels
    )
    query = (
        select(
            Department.code,
            Zone.name,
            func.sum(BackendUsage.cpu_seconds),
            func.sum(BackendUsage.memory_used_bytes),
            func.count(),
        )
        .join(Department, Department.id == BackendUsage.department_id)
        .join(Zone, Zone.id == BackendUsage.zone_id)
        .group_by(Department.code, Zone.name)
    )
    for department, zone, cpu_seconds, memory_bytes, count in session.connection().execute(query):
        values = (department, zone)
        text = label_text(labels, values)  # shared, as in quotas()
        if cpu_seconds is not None:
            cpu.add(text, values, float(cpu_seconds))
        if memory_bytes is not None:
            memory.add(text, values, float(memory_bytes))
        reporting.add(text, values, count)
    return (cpu, memory, reporting)


def worker_queue(session: Session) -> Iterable[Metric]:
    """The work due now (what a live worker would claim next), leases, and the workers' last passes."""
    now = utcnow()
    due_at = func.coalesce(ResourceRequest.next_attempt_at, ResourceRequest.updated_at)
    due = select(func.count(), func.min(due_at)).where(
        ResourceRequest.status.in_(CLAIMABLE),
        ResourceRequest.kind != "quota",
        or_(ResourceRequest.next_attempt_at.is_(None), ResourceRequest.next_attempt_at <= now),
        or_(ResourceRequest.lease_until.is_(None), ResourceRequest.lease_until < now),
    )
    depth, oldest_due = session.execute(due).one()
    leases = select(
        func.count(),
        func.coalesce(func.sum(case((ResourceRequest.lease_until < now, 1), else_=0)), 0),
        func.min(ResourceRequest.lease_until),
    ).where(ResourceRequest.lease_owner.is_not(None))
    held, expired, earliest_expiry = session.execute(leases).one()
    last_pass = session.scalar(select(func.max(WorkerPass.last_pass_at)))
    families: list[Metric] = [
        GaugeMetricFamily("cloudsvc_worker_queue_depth", "Requests due for the worker now", value=depth),
        GaugeMetricFamily(
            "cloudsvc_worker_queue_oldest_age_seconds",
            "How long the longest-waiting due request has been due (0 if none)",
            value=max((now - oldest_due).total_seconds(), 0.0) if oldest_due is not None else 0.0,
        ),
        GaugeMetricFamily("cloudsvc_worker_leases", "Requests a worker holds a lease on", value=held),
        GaugeMetricFamily(
            "cloudsvc_worker_leases_expired",
            "Leases past their expiry: their worker stalled or died mid-step",
            value=expired,
        ),
        GaugeMetricFamily(
            "cloudsvc_worker_oldest_lease_overdue_seconds",
            "How far the oldest lease is past its expiry (0 if none is)",
            value=max((now - earliest_expiry).total_seconds(), 0.0) if earliest_expiry is not None else 0.0,
        ),
    ]
    if last_pass is not None:  # absent until some worker has passed: "worker down" alerts on absence too
        families.append(
            GaugeMetricFamily(
                "cloudsvc_worker_last_pass_timestamp_seconds",
                "When a provisioning worker last completed a pass",
                value=_timestamp(last_pass),
            )
        )
    return families


def audit_verification(session: Session) -> Iterable[Metric]:
    result = session.get(AuditVerificationResult, 1)
    if result is None:
        return ()
    return (
        GaugeMetricFamily(
            "cloudsvc_audit_verification_ok",
            "1 if the latest audit chain verification found the chain intact, else 0",
            value=1.0 if result.ok else 0.0,
        ),
        GaugeMetricFamily(
            "cloudsvc_audit_verification_timestamp_seconds",
            "When the audit chain was last verified",
            value=_timestamp(result.verified_at),
        ),
        GaugeMetricFamily(
            "cloudsvc_audit_verified_events", "Events the latest verification checked", value=result.events
        ),
    )


def build_info(session: Session) -> Iterable[Metric]:
    family = GaugeMetricFamily(
        "cloudsvc_build_info", "cloudsvc's version (always 1)", labels=["version", "python_version"]
    )
    family.add_metric([__version__, platform.python_version()], 1)
    return (family,)


def migration_progress(session: Session) -> Iterable[Metric]:
    """Legacy systems by status and strategy, and the plans' KPI shares against their targets, per
    department subtree holding systems (and the province)."""
    labels = ["department", "level"]
    systems = GaugeMetricFamily(
        "cloudsvc_migration_systems", "Legacy systems in the subtree, by status", labels=[*labels, "status"]
    )
    strategies = GaugeMetricFamily(
        "cloudsvc_migration_systems_by_strategy",
        "Legacy systems in the subtree, by 7R strategy (chosen, else suggested)",
        labels=[*labels, "strategy"],
    )
    share = GaugeMetricFamily(
        "cloudsvc_migration_kpi_ratio",
        "Share of the subtree's systems where the plans want them (no sample: none to count)",
        labels=[*labels, "kpi"],
    )
    target = GaugeMetricFamily(
        "cloudsvc_migration_kpi_target_ratio", "The share the plans ask for", labels=[*labels, "kpi"]
    )
    due = GaugeMetricFamily(
        "cloudsvc_migration_kpi_due_timestamp_seconds",
        "When the target is due (Unix time, start of that day UTC)",
        labels=["kpi"],
    )
    due_dates: dict[str, float] = {}
    for department in migration_kpis(session):
        where = [department.department_code, department.level]
        for status, count in sorted(department.by_status.items()):
            systems.add_metric([*where, status], count)
        for strategy, count in sorted(department.by_strategy.items()):
            strategies.add_metric([*where, strategy], count)
        for kpi, figure in department.kpis.items():
            if figure.share is not None:
                share.add_metric([*where, kpi.value], figure.share)
            target.add_metric([*where, kpi.value], figure.target.share)
            if figure.target.due_on is not None:
                due_dates[kpi.value] = datetime.combine(figure.target.due_on, time(), UTC).timestamp()
    for kpi_name, when in sorted(due_dates.items()):
        due.add_metric([kpi_name], when)
    return (systems, strategies, share, target, due)


SOURCES: list[Source] = [
    build_info,
    departments,
    quotas,
    requests,
    requests_waiting,
    resources,
    provisioning_outcomes,
    approval_wait,
    provisioning_duration,
    backend_errors,
    backend_usage,
    worker_queue,
    audit_verification,
    migration_progress,
]
