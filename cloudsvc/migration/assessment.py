"""Assessing a legacy system: a suggested 7R strategy, a target zone by the placement rules, and readiness.

Readiness checks: a zone fits the placement rules (classified → intranet; the system's MLPS level within
the zone's), and the department's quotas have room for the resources the move will request (the quota
service's dry-run check, which reserves nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.departments import service as departments
from cloudsvc.errors import InvalidInput
from cloudsvc.migration import domain, execution, lifecycle
from cloudsvc.migration import service as inventory
from cloudsvc.migration.lifecycle import SystemStatus
from cloudsvc.migration.models import LegacySystem
from cloudsvc.migration.schemas import ReadinessCheck
from cloudsvc.principals.authz import Caller
from cloudsvc.quotas import service as quotas
from cloudsvc.resource_requests.schemas import Classification
from cloudsvc.resource_requests.service import check_placement
from cloudsvc.zones import service as zones
from cloudsvc.zones.models import Zone
from quotas.demand import Demand, QuotaClass, demand_of


def check_zone(system: LegacySystem, zone: Zone) -> None:
    """Raise InvalidInput (field target_zone) if ``zone`` breaks a placement rule for ``system``."""
    try:
        check_placement(zone, Classification(system.classification), system.mlps_level)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="target_zone") from exc


def _fits(system: LegacySystem, zone: Zone) -> bool:
    try:
        check_zone(system, zone)
    except InvalidInput:
        return False
    return True


def demand(system: LegacySystem) -> Demand:
    """What the move will ask of the quotas: the sum over the requests execution would submit."""
    total: dict[QuotaClass, int] = {}
    for submission in execution.submissions(system, image="assessment", justification="assessment"):
        for cls, amount in demand_of(submission.kind, submission.spec.model_dump(mode="json")).items():
            total[cls] = total.get(cls, 0) + amount
    return total


def _assess(session: Session, system: LegacySystem, candidates: Sequence[Zone]) -> list[ReadinessCheck]:
    system.suggested_strategy = domain.suggest(system)
    checks = []
    if system.target_zone is not None and _fits(system, system.target_zone):
        checks.append(
            ReadinessCheck(check="placement", ok=True, detail=f"kept zone {system.target_zone.name}")
        )
    else:
        zone, why = domain.choose_zone(system, candidates)
        system.target_zone = zone
        checks.append(ReadinessCheck(check="placement", ok=zone is not None, detail=why))
    if system.target_zone is None:
        checks.append(
            ReadinessCheck(check="quota", ok=False, detail="no target zone to request resources in")
        )
    else:
        shortfalls = quotas.check(session, departments.chain(session, system.department), demand(system))
        if shortfalls:
            detail = "; ".join(
                f"{s.department} short of {s.short_by} {s.quota_class.value}" for s in shortfalls
            )
        else:
            detail = "the department's quotas have room for the move"
        checks.append(ReadinessCheck(check="quota", ok=not shortfalls, detail=detail))
    strategy = system.strategy or system.suggested_strategy
    moving = domain.moves(strategy)
    checks.append(
        ReadinessCheck(
            check="strategy",
            ok=moving,
            detail=f"{strategy} ({'chosen by an operator' if system.strategy else 'suggested'})"
            + ("" if moving else ": the system stays where it is"),
        )
    )
    return checks


def _apply(
    session: Session, caller: Caller, system: LegacySystem, candidates: Sequence[Zone], note: str | None
) -> None:
    inventory.require_manage(caller, system)
    checks = _assess(session, system, candidates)
    ready = all(c.ok for c in checks)
    system.readiness = {"ready": ready, "checks": [c.model_dump() for c in checks]}
    if system.status != SystemStatus.planned:  # a planned system stays in its plan after a re-assessment
        lifecycle.move(system, SystemStatus.assessed, reason="ready" if ready else "not ready")
    session.flush()
    audit.record(
        session,
        actor=caller.actor,
        action="migration.system.assess",
        target_type="legacy_system",
        target_id=system.code,
        detail={
            "suggested_strategy": system.suggested_strategy,
            "target_zone": system.target_zone.name if system.target_zone else None,
            "ready": ready,
            "note": note,
        },
    )


def assess(session: Session, caller: Caller, code: str, *, note: str | None = None) -> LegacySystem:
    system = inventory.get(session, caller, code)
    _apply(session, caller, system, zones.list_all(session), note)
    return system


def assess_many(
    session: Session, caller: Caller, codes: Sequence[str], *, note: str | None = None
) -> list[LegacySystem]:
    """All or none: one system that may not be assessed refuses the whole call."""
    candidates = zones.list_all(session)
    systems = [inventory.get(session, caller, code) for code in dict.fromkeys(codes)]
    for system in systems:
        _apply(session, caller, system, candidates, note)
    return systems
