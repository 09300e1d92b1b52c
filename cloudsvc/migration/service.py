"""The legacy-system inventory: create, read, change, delete, import and export.

Operators (``migration.manage``) change it; department roles read their subtree (``migration.read``).
Every change writes an audit event in the same transaction. Assessment lives in ``assessment``, wave
planning in ``planning``, execution and cutover in ``execution`` and ``cutover``, KPIs in ``progress``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cloudsvc.audit import service as audit
from cloudsvc.departments import service as departments
from cloudsvc.departments.models import Department
from cloudsvc.errors import Conflict, Forbidden, InvalidInput, NotFound
from cloudsvc.migration import domain
from cloudsvc.migration.lifecycle import IN_FLIGHT, SystemStatus
from cloudsvc.migration.models import (
    LegacySystem,
    MigrationRequest,
    SystemDependency,
    WaveSystem,
)
from cloudsvc.migration.schemas import (
    ImportResult,
    RowProblem,
    SystemFilter,
    SystemIn,
    SystemPatch,
)
from cloudsvc.migration.tabular import ParsedRow
from cloudsvc.principals.authz import Caller, Permission
from cloudsvc.zones import service as zones


class ImportRejected(InvalidInput):
    """Some rows are bad: the import changed nothing. ``errors`` lists every {row, column, problem}."""

    title = "Import rejected"
    problem_type = "import-rejected"

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        first = problems[0]
        super().__init__(
            f"{len(problems)} problem(s); nothing was imported. First: row {first.row}, "
            f"{first.column}: {first.problem}",
            field="file",
            errors=[p.model_dump() for p in problems],
        )


# --- reading ----------------------------------------------------------------------------------------------


def by_code(session: Session, code: str) -> LegacySystem | None:
    return session.scalars(select(LegacySystem).where(LegacySystem.code == code)).unique().one_or_none()


def get(session: Session, caller: Caller, code: str) -> LegacySystem:
    """The system, if the caller may read it; NotFound otherwise (whether or not it exists)."""
    system = by_code(session, code)
    if system is None or not caller.may(Permission.migration_read, system.department.path):
        raise NotFound("system", code)
    return system


def require_manage(caller: Caller, system: LegacySystem) -> None:
    caller.require(
        Permission.migration_manage,
        system.department.path,
        read=Permission.migration_read,
        what="system",
        key=system.code,
    )


def get_managed(session: Session, caller: Caller, code: str) -> LegacySystem:
    system = get(session, caller, code)
    require_manage(caller, system)
    return system


def _filtered(session: Session, caller: Caller, where: SystemFilter) -> Any:
    query = (
        select(LegacySystem)
        .join(LegacySystem.department)
        .where(departments.subtree_filter(caller.scopes(Permission.migration_read)))
    )
    if where.department_code is not None:
        department = departments.by_code(session, where.department_code)
        if department is None or not caller.may(Permission.migration_read, department.path):
            raise NotFound("department", where.department_code, field="department_code")
        query = query.where(Department.path.startswith(department.path, autoescape=True))
    if where.status:
        query = query.where(LegacySystem.status.in_([s.value for s in where.status]))
    if where.strategy:
        query = query.where(LegacySystem.strategy.in_([s.value for s in where.strategy]))
    if where.classification is not None:
        query = query.where(LegacySystem.classification == where.classification)
    return query


def list_visible(
    session: Session, caller: Caller, where: SystemFilter, *, after_code: str | None, limit: int | None
) -> Sequence[LegacySystem]:
    """By code; ``department_code`` selects that department's whole subtree."""
    query = _filtered(session, caller, where)
    if after_code is not None:
        query = query.where(LegacySystem.code > after_code)
    query = query.order_by(LegacySystem.code)
    if limit is not None:
        query = query.limit(limit)
    found: Sequence[LegacySystem] = session.scalars(query).unique().all()
    return found


def request_ids(session: Session, systems: Sequence[LegacySystem]) -> dict[int, list[str]]:
    ids: dict[int, list[str]] = {s.id: [] for s in systems}
    if ids:
        rows = session.execute(
            select(MigrationRequest.system_id, MigrationRequest.request_id)
            .where(MigrationRequest.system_id.in_(list(ids)))
            .order_by(MigrationRequest.request_id)
        )
        for row in rows:
            ids[row.system_id].append(row.request_id)
    return ids


def as_row(system: LegacySystem) -> dict[str, Any]:
    """The system as plain data: what export writes and SystemOut shows."""
    return {
        "code": system.code,
        "name": system.name,
        "department_code": system.department.code,
        "classification": system.classification,
        "mlps_level": system.mlps_level,
        "current_location": system.current_location,
        "vcpus": system.vcpus,
        "ram_mb": system.ram_mb,
        "storage_gb": system.storage_gb,
        "bandwidth_mbps": system.bandwidth_mbps,
        "criticality": system.criticality,
        "cutover_hours": system.cutover_hours,
        "maintenance_windows": system.maintenance_windows,
        "blackout_periods": system.blackout_periods,
        "strategy": system.strategy,
        "dependencies": [{"code": d.depends_on.code, "coupling": d.coupling} for d in system.dependencies],
        "tags": system.tags,
    }


# --- writing ----------------------------------------------------------------------------------------------


def _department(session: Session, caller: Caller, code: str) -> Department:
    department = departments.by_code(session, code)
    if department is None or not caller.may(Permission.migration_read, department.path):
        raise NotFound("department", code, field="department_code")
    caller.require(
        Permission.migration_manage,
        department.path,
        read=Permission.migration_read,
        what="department",
        key=code,
    )
    return department


def _fill(system: LegacySystem, data: SystemIn, department: Department) -> None:
    system.name = data.name
    system.department = department
    system.classification = data.classification
    system.mlps_level = data.mlps_level
    system.current_location = data.current_location
    system.vcpus = data.vcpus
    system.ram_mb = data.ram_mb
    system.storage_gb = data.storage_gb
    system.bandwidth_mbps = data.bandwidth_mbps
    system.criticality = data.criticality
    system.cutover_hours = data.cutover_hours
    system.maintenance_windows = [w.model_dump(mode="json") for w in data.maintenance_windows]
    system.blackout_periods = [p.model_dump(mode="json", exclude_none=True) for p in data.blackout_periods]
    system.strategy = data.strategy
    system.tags = sorted(set(data.tags))


def _edges_without(session: Session, replaced: set[str]) -> list[tuple[str, str, str]]:
    """Every stored dependency (system, depends_on, coupling), except those of the ``replaced`` systems."""
    source = LegacySystem.__table__.alias("source")
    target = LegacySystem.__table__.alias("target")
    rows = session.execute(
        select(source.c.code, target.c.code, SystemDependency.coupling)
        .join(source, source.c.id == SystemDependency.system_id)
        .join(target, target.c.id == SystemDependency.depends_on_id)
    )
    return [(a, b, c) for a, b, c in rows if a not in replaced]


def _check_cycles(session: Session, incoming: Sequence[SystemIn]) -> list[list[str]]:
    edges = _edges_without(session, {s.code for s in incoming})
    edges += [(s.code, d.code, d.coupling.value) for s in incoming for d in s.dependencies]
    return domain.cycles(edges)


def _save(session: Session, caller: Caller, data: Sequence[SystemIn]) -> tuple[list[LegacySystem], int]:
    """Create or update ``data`` (already checked); (the systems, how many were created)."""
    existing = {
        s.code: s
        for s in session.scalars(select(LegacySystem).where(LegacySystem.code.in_([d.code for d in data])))
        .unique()
        .all()
    }
    saved: list[LegacySystem] = []
    created = 0
    for item in data:
        department = _department(session, caller, item.department_code)
        system = existing.get(item.code)
        if system is None:
            system = LegacySystem(code=item.code, status=SystemStatus.not_started, dependencies=[])
            session.add(system)
            created += 1
        else:
            require_manage(caller, system)
            if system.status in IN_FLIGHT:
                raise Conflict(
                    f"system {system.code} is {system.status}; its record cannot change mid-move",
                    field="code",
                    current_status=system.status,
                )
        _fill(system, item, department)
        saved.append(system)
    session.flush()
    by_code_ = {s.code: s for s in saved}
    missing = {d.code for item in data for d in item.dependencies} - set(by_code_)
    if missing:
        by_code_.update(
            {s.code: s for s in session.scalars(select(LegacySystem).where(LegacySystem.code.in_(missing)))}
        )
    for item in data:
        system = by_code_[item.code]
        system.dependencies = [
            SystemDependency(
                system_id=system.id, depends_on_id=by_code_[d.code].id, coupling=d.coupling.value
            )
            for d in item.dependencies
        ]
    session.flush()
    return saved, created


def _unknown_targets(session: Session, data: Sequence[SystemIn]) -> set[str]:
    wanted = {d.code for item in data for d in item.dependencies} - {item.code for item in data}
    if not wanted:
        return set()
    known = set(session.scalars(select(LegacySystem.code).where(LegacySystem.code.in_(wanted))))
    return wanted - known


def create(session: Session, caller: Caller, data: SystemIn) -> LegacySystem:
    if by_code(session, data.code) is not None:
        raise Conflict(f"system code {data.code!r} is taken", field="code")
    return _put(session, caller, data, action="migration.system.create")


def replace(session: Session, caller: Caller, code: str, data: SystemIn) -> LegacySystem:
    get_managed(session, caller, code)
    if data.code != code:
        raise InvalidInput("the code in the body must match the one in the path", field="code")
    return _put(session, caller, data, action="migration.system.update")


def _put(session: Session, caller: Caller, data: SystemIn, *, action: str) -> LegacySystem:
    unknown = _unknown_targets(session, [data])
    if unknown:
        raise InvalidInput(
            f"unknown dependency target(s): {', '.join(sorted(unknown))}", field="dependencies"
        )
    cycles = _check_cycles(session, [data])
    if cycles:
        raise InvalidInput(
            f"dependency cycle: {' → '.join([*cycles[0], cycles[0][0]])}", field="dependencies"
        )
    [system], _ = _save(session, caller, [data])
    audit.record(
        session,
        actor=caller.actor,
        action=action,
        target_type="legacy_system",
        target_id=system.code,
        detail=data.model_dump(mode="json", exclude={"dependencies"})
        | {"dependencies": [d.code for d in data.dependencies]},
    )
    return system


def patch(session: Session, caller: Caller, code: str, data: SystemPatch) -> LegacySystem:
    from cloudsvc.migration import lifecycle
    from cloudsvc.migration.assessment import check_zone

    system = get_managed(session, caller, code)
    changed = data.model_dump(mode="json", exclude_unset=True)
    if "strategy" in changed:
        system.strategy = data.strategy
    if "target_zone" in changed:
        if data.target_zone is None:
            system.target_zone = None
        else:
            zone = zones.by_name(session, data.target_zone)
            if zone is None:
                raise InvalidInput(f"zone {data.target_zone!r} does not exist", field="target_zone")
            check_zone(system, zone)
            system.target_zone = zone
    if data.status is not None:
        lifecycle.move(system, SystemStatus(data.status), reason=data.reason)
    audit.record(
        session,
        actor=caller.actor,
        action="migration.system.patch",
        target_type="legacy_system",
        target_id=system.code,
        detail=changed,
    )
    return system


def remove(session: Session, caller: Caller, code: str) -> None:
    system = get_managed(session, caller, code)
    if system.status in IN_FLIGHT:
        raise Conflict(f"system {code} is {system.status}; it cannot be deleted mid-move")
    dependants = session.scalars(
        select(LegacySystem.code)
        .join(SystemDependency, SystemDependency.system_id == LegacySystem.id)
        .where(SystemDependency.depends_on_id == system.id)
    ).all()
    if dependants:
        raise Conflict(f"systems depend on {code}: {', '.join(sorted(dependants))}")
    if session.scalar(select(MigrationRequest.request_id).where(MigrationRequest.system_id == system.id)):
        raise Conflict(f"system {code} has resource requests; retire it instead of deleting it")
    session.execute(delete(WaveSystem).where(WaveSystem.system_id == system.id))
    session.delete(system)
    session.flush()
    audit.record(
        session,
        actor=caller.actor,
        action="migration.system.delete",
        target_type="legacy_system",
        target_id=code,
    )


# --- import -----------------------------------------------------------------------------------------------


def require_importer(caller: Caller) -> None:
    """Refuse at once a caller who may change no system anywhere (before reading what it uploaded)."""
    if caller.scopes(Permission.migration_manage) == []:
        raise Forbidden(f"{caller.name} may not change the migration inventory")


def import_rows(
    session: Session, caller: Caller, rows: Sequence[ParsedRow], problems: list[RowProblem]
) -> ImportResult:
    """Create or update every row's system, or none: any problem raises ImportRejected listing them all."""
    require_importer(caller)
    problems = list(problems)
    good = [r for r in rows if r.system is not None]
    row_of: dict[str, int] = {}
    for parsed in good:
        assert parsed.system is not None
        code = parsed.system.code
        if code in row_of:
            problems.append(
                RowProblem(
                    row=parsed.row, column="code", problem=f"duplicate code {code!r} (row {row_of[code]})"
                )
            )
        else:
            row_of[code] = parsed.row
    data = [r.system for r in good if r.system is not None]
    department_codes = {s.department_code for s in data}
    found = {
        d.code: d for d in session.scalars(select(Department).where(Department.code.in_(department_codes)))
    }
    for parsed in good:
        assert parsed.system is not None
        department = found.get(parsed.system.department_code)
        if department is None or not caller.may(Permission.migration_read, department.path):
            problems.append(
                RowProblem(
                    row=parsed.row,
                    column="department",
                    problem=f"unknown department {parsed.system.department_code!r}",
                )
            )
        elif not caller.may(Permission.migration_manage, department.path):
            problems.append(
                RowProblem(
                    row=parsed.row,
                    column="department",
                    problem=f"you may not manage systems of department {department.code!r}",
                )
            )
    all_codes = {r.system.code for r in rows if r.system is not None}
    unknown = _unknown_targets(session, data)
    for parsed in good:
        assert parsed.system is not None
        for dependency in parsed.system.dependencies:
            if dependency.code in unknown and dependency.code not in all_codes:
                problems.append(
                    RowProblem(
                        row=parsed.row,
                        column="depends_on",
                        problem=f"unknown system {dependency.code!r}",
                    )
                )
    if not problems:
        for cycle in _check_cycles(session, data):
            text = " → ".join([*cycle, cycle[0]])
            for code in cycle:
                if code in row_of:
                    problems.append(
                        RowProblem(row=row_of[code], column="depends_on", problem=f"dependency cycle: {text}")
                    )
    if not problems and not data:
        problems.append(RowProblem(row=2, column="row", problem="the file holds no systems"))
    if problems:
        raise ImportRejected(sorted(problems, key=lambda p: (p.row, p.column)))
    saved, created = _save(session, caller, data)
    audit.record(
        session,
        actor=caller.actor,
        action="migration.system.import",
        target_type="legacy_system",
        target_id=None,
        detail={"created": created, "updated": len(saved) - created, "codes": [s.code for s in saved][:1000]},
    )
    return ImportResult(created=created, updated=len(saved) - created, codes=[s.code for s in saved])
