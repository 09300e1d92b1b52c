"""Assessing a legacy system: a suggested 7R strategy, a target zone by the placement rules, and readiness.

Readiness checks: a zone fits the placement rules (classified → intranet; the system's MLPS level within
the zone's); one of its maintenance windows is as long as its cutover; the department's quotas have room
for the resources the move will request (the quota service's dry-run check, which reserves nothing); and
the target zone has room for them. A zone's room is the capacity it declares (``cloudsvc.zones.capacity``)
less what its requests hold, less what the planned systems awaiting their wave will ask there, less what
the systems assessed before this one in the same call will (so a bulk assessment does not promise one
zone's last room to every system). A zone that declares no capacity is not checked, and the check says
so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
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
from cloudsvc.zones import capacity
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
    """What the move will ask of the quotas (and of its zone): the sum over the requests execution would
    submit, whichever zone they go to."""
    total: dict[QuotaClass, int] = {}
    submitted = execution.submissions(system, image="assessment", justification="assessment", zone="any")
    for submission in submitted:
        for cls, amount in demand_of(submission.kind, submission.spec.model_dump(mode="json")).items():
            total[cls] = total.get(cls, 0) + amount
    return total


@dataclass
class ZoneRoom:
    """The room in each zone that declares a capacity, as the assessments of one call see it."""

    declared: dict[int, Demand]  # zone id -> its declared capacity
    held: dict[int, Demand]  # zone id -> what its requests hold
    claims: dict[int, tuple[int, Demand]] = field(default_factory=dict)  # system id -> (zone id, its need)
    claimed: dict[int, Demand] = field(default_factory=dict)  # zone id -> the claims on it, summed

    @classmethod
    def load(cls, session: Session, zones: Sequence[Zone]) -> ZoneRoom:
        declared = {z.id: found for z in zones if (found := capacity.parse(z.settings)) is not None}
        room = cls(declared=declared, held=capacity.held(session, declared))
        if not declared:
            return room
        # Planned systems have no requests yet; their wave will ask for these.
        waiting = session.scalars(
            select(LegacySystem).where(
                LegacySystem.status == SystemStatus.planned, LegacySystem.target_zone_id.in_(list(declared))
            )
        ).unique()
        for system in waiting:
            assert system.target_zone_id is not None
            room.claim(system, system.target_zone_id, demand(system))
        return room

    def _add(self, zone_id: int, need: Demand, sign: int) -> None:
        totals = self.claimed.setdefault(zone_id, {})
        for cls, amount in need.items():
            totals[cls] = totals.get(cls, 0) + sign * amount

    def claim(self, system: LegacySystem, zone_id: int, need: Demand) -> None:
        if zone_id in self.declared:
            self.release(system)
            self.claims[system.id] = (zone_id, need)
            self._add(zone_id, need, 1)

    def release(self, system: LegacySystem) -> None:
        found = self.claims.pop(system.id, None)
        if found is not None:
            self._add(*found, -1)

    def free(self, zone_id: int) -> Demand | None:
        """Per declared class, what is left (below 0 when the zone is overcommitted); None: not declared."""
        if zone_id not in self.declared:
            return None
        held, claimed = self.held[zone_id], self.claimed.get(zone_id, {})
        return {
            cls: cap - held.get(cls, 0) - claimed.get(cls, 0) for cls, cap in self.declared[zone_id].items()
        }

    def check(self, zone: Zone, need: Demand) -> ReadinessCheck:
        free = self.free(zone.id)
        if free is None:
            detail = f"zone {zone.name} declares no capacity (settings.{capacity.KEY}): not checked"
            return ReadinessCheck(check="capacity", ok=True, detail=detail)
        held, claimed = self.held[zone.id], self.claimed.get(zone.id, {})

        def figures(cls: QuotaClass) -> str:
            return (
                f"needs {need.get(cls, 0)}, {free[cls]} of {self.declared[zone.id][cls]} free: "
                f"{held.get(cls, 0)} held by requests, "
                f"{claimed.get(cls, 0)} claimed by other systems bound for it"
            )

        short = [cls for cls in free if need.get(cls, 0) > free[cls]]
        if short:
            parts = [f"{need.get(cls, 0) - free[cls]} {cls.value} ({figures(cls)})" for cls in short]
            return ReadinessCheck(
                check="capacity", ok=False, detail=f"zone {zone.name} short of {'; '.join(parts)}"
            )
        parts = [f"{cls.value} ({figures(cls)})" for cls in free]
        return ReadinessCheck(
            check="capacity", ok=True, detail=f"zone {zone.name} has room: {'; '.join(parts)}"
        )


def _window_check(system: LegacySystem) -> ReadinessCheck:
    """The cutover takes the system down for its cutover hours: one of its windows must be that long."""
    found = domain.windows(system.maintenance_windows)
    if not found:
        return ReadinessCheck(
            check="maintenance_window",
            ok=True,
            detail="no maintenance windows: the cutover may start any time",
        )
    longest = max(found, key=lambda w: w.hours)
    fits = longest.hours >= system.cutover_hours
    relation = "at least" if fits else "shorter than"
    return ReadinessCheck(
        check="maintenance_window",
        ok=fits,
        detail=f"its longest maintenance window ({longest}, {longest.hours:g} h) is {relation} its "
        f"cutover ({system.cutover_hours:g} h)",
    )


def _assess(
    session: Session, system: LegacySystem, candidates: Sequence[Zone], room: ZoneRoom
) -> list[ReadinessCheck]:
    system.suggested_strategy = domain.suggest(system)
    room.release(system)  # its own earlier claim does not count against it
    need = demand(system)
    checks = []
    if system.target_zone is not None and _fits(system, system.target_zone):
        checks.append(
            ReadinessCheck(check="placement", ok=True, detail=f"kept zone {system.target_zone.name}")
        )
    else:
        free = {z.id: room.free(z.id) for z in candidates}
        zone, why = domain.choose_zone(system, candidates, need, free)
        system.target_zone = zone
        checks.append(ReadinessCheck(check="placement", ok=zone is not None, detail=why))
    if system.target_zone is None:
        for check in ("quota", "capacity"):
            checks.append(
                ReadinessCheck(check=check, ok=False, detail="no target zone to request resources in")
            )
    else:
        shortfalls = quotas.check(session, departments.chain(session, system.department), need)
        if shortfalls:
            detail = "; ".join(
                f"{s.department} short of {s.short_by} {s.quota_class.value}" for s in shortfalls
            )
        else:
            detail = "the department's quotas have room for the move"
        checks.append(ReadinessCheck(check="quota", ok=not shortfalls, detail=detail))
        checks.append(room.check(system.target_zone, need))
    checks.append(_window_check(system))
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
    session: Session,
    caller: Caller,
    system: LegacySystem,
    candidates: Sequence[Zone],
    room: ZoneRoom,
    note: str | None,
) -> None:
    inventory.require_manage(caller, system)
    checks = _assess(session, system, candidates, room)
    ready = all(c.ok for c in checks)
    if system.target_zone is not None and (ready or system.status == SystemStatus.planned):
        # what the next systems of this call will find taken; a system that is not ready claims nothing
        room.claim(system, system.target_zone.id, demand(system))
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
    candidates = zones.list_all(session)
    _apply(session, caller, system, candidates, ZoneRoom.load(session, candidates), note)
    return system


def assess_many(
    session: Session, caller: Caller, codes: Sequence[str], *, note: str | None = None
) -> list[LegacySystem]:
    """All or none: one system that may not be assessed refuses the whole call."""
    candidates = zones.list_all(session)
    systems = [inventory.get(session, caller, code) for code in dict.fromkeys(codes)]
    room = ZoneRoom.load(session, candidates)
    for system in systems:
        _apply(session, caller, system, candidates, room, note)
    return systems
