"""Progress against the provincial plans' targets, per department subtree (the province included).

    unclassified_on_extranet  share of non-classified systems running on the extranet cloud (default 95%)
    classified_on_intranet    share of classified (涉密) systems moved into the intranet cloud (default 90%)

A system counts as on the cloud once it is ``migrated`` into a zone of that network. Retired systems are
left out of both numerator and denominator: they no longer need a home.

``migration_kpis(session)`` is what the metrics collector turns into Prometheus gauges.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.departments.models import Department, ancestor_ids
from cloudsvc.errors import Forbidden
from cloudsvc.migration.lifecycle import SystemStatus
from cloudsvc.migration.models import LegacySystem, MigrationTarget
from cloudsvc.principals.authz import Caller, Permission
from cloudsvc.resource_requests.schemas import Classification
from cloudsvc.zones.models import Network, Zone


class Kpi(StrEnum):
    unclassified_on_extranet = "unclassified_on_extranet"
    classified_on_intranet = "classified_on_intranet"


DEFAULT_TARGETS: dict[Kpi, float] = {Kpi.unclassified_on_extranet: 0.95, Kpi.classified_on_intranet: 0.90}
UNDECIDED = "undecided"  # the by_strategy key of systems with neither a chosen nor a suggested strategy


@dataclass(frozen=True)
class Target:
    share: float
    due_on: date | None


@dataclass(frozen=True)
class KpiFigure:
    kpi: Kpi
    numerator: int
    denominator: int
    target: Target

    @property
    def share(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def met(self) -> bool | None:
        return None if self.share is None else self.share >= self.target.share


@dataclass
class DepartmentKpis:
    """Figures for one department's whole subtree."""

    department_code: str
    level: str
    path: str
    systems: int = 0
    kpis: dict[Kpi, KpiFigure] = field(default_factory=dict)
    by_strategy: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)


def targets(session: Session) -> dict[Kpi, Target]:
    found = {Kpi(t.kpi): Target(t.share, t.due_on) for t in session.scalars(select(MigrationTarget))}
    return {kpi: found.get(kpi, Target(share, None)) for kpi, share in DEFAULT_TARGETS.items()}


def set_target(session: Session, caller: Caller, kpi: Kpi, *, share: float, due_on: date | None) -> Target:
    if not caller.may_cloud_wide(Permission.migration_manage):
        raise Forbidden("only an operator of the whole cloud may set the province's migration targets")
    row = session.get(MigrationTarget, kpi.value)
    if row is None:
        row = MigrationTarget(kpi=kpi.value)
        session.add(row)
    row.share = share
    row.due_on = due_on
    row.set_by = caller.principal_id
    session.flush()
    audit.record(
        session,
        actor=caller.actor,
        action="migration.target.set",
        target_type="migration_target",
        target_id=kpi.value,
        detail={"share": share, "due_on": due_on.isoformat() if due_on else None},
    )
    return Target(share, due_on)


def migration_kpis(session: Session) -> list[DepartmentKpis]:
    """KPIs of every department subtree holding at least one system, and of every root (province), by path.

    One pass over the inventory: each system is added to its department and to each ancestor.
    """
    wanted = targets(session)
    rows = session.execute(
        select(
            Department.path,
            LegacySystem.classification,
            LegacySystem.status,
            LegacySystem.strategy,
            LegacySystem.suggested_strategy,
            Zone.network,
        )
        .join(Department, Department.id == LegacySystem.department_id)
        .outerjoin(Zone, Zone.id == LegacySystem.target_zone_id)
    )
    counts: dict[int, Counter[str]] = {}
    strategies: dict[int, Counter[str]] = {}
    statuses: dict[int, Counter[str]] = {}
    for row in rows:
        retired = row.status == SystemStatus.retired
        migrated = row.status == SystemStatus.migrated
        if row.classification == Classification.classified:
            keys = [] if retired else ["classified"]
            if migrated and row.network == Network.intranet:
                keys.append("classified_home")
        else:
            keys = [] if retired else ["unclassified"]
            if migrated and row.network == Network.extranet:
                keys.append("unclassified_home")
        for ancestor in ancestor_ids(row.path):
            counts.setdefault(ancestor, Counter()).update(["systems", *keys])
            strategies.setdefault(ancestor, Counter())[
                row.strategy or row.suggested_strategy or UNDECIDED
            ] += 1
            statuses.setdefault(ancestor, Counter())[row.status] += 1
    # Plain rows, not ORM objects, and only the departments reported: /metrics calls this at each scrape.
    reported = select(Department.id, Department.code, Department.level, Department.path).where(
        or_(Department.id.in_(counts), Department.parent_id.is_(None))
    )
    figures = []
    for department in sorted(session.execute(reported), key=lambda d: d.path):
        count = counts.get(department.id, Counter())
        figures.append(
            DepartmentKpis(
                department_code=department.code,
                level=department.level,
                path=department.path,
                systems=count["systems"],
                kpis={
                    Kpi.unclassified_on_extranet: KpiFigure(
                        Kpi.unclassified_on_extranet,
                        count["unclassified_home"],
                        count["unclassified"],
                        wanted[Kpi.unclassified_on_extranet],
                    ),
                    Kpi.classified_on_intranet: KpiFigure(
                        Kpi.classified_on_intranet,
                        count["classified_home"],
                        count["classified"],
                        wanted[Kpi.classified_on_intranet],
                    ),
                },
                by_strategy=dict(sorted(strategies.get(department.id, Counter()).items())),
                by_status=dict(sorted(statuses.get(department.id, Counter()).items())),
            )
        )
    return figures


def visible_progress(session: Session, caller: Caller, department_code: str | None) -> list[DepartmentKpis]:
    """The figures of the departments the caller may read, or of one department's subtree."""
    scopes = caller.scopes(Permission.migration_read)
    found = [
        f for f in migration_kpis(session) if scopes is None or any(f.path.startswith(p) for p in scopes)
    ]
    if department_code is not None:
        anchor = next((f for f in found if f.department_code == department_code), None)
        found = [f for f in found if anchor is not None and f.path.startswith(anchor.path)]
    return found
