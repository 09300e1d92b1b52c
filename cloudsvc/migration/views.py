"""HTTP for the migration domain: inventory, import/export, assessment, plans, waves, cutover, progress."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from sqlalchemy.orm import Session

from cloudsvc.api.deps import CallerDep, Cursor, Limit, SessionDep, SettingsDep, get_database
from cloudsvc.api.params import CODE_PATTERN, OptionalCodeQuery
from cloudsvc.db import Database
from cloudsvc.errors import InvalidInput
from cloudsvc.migration import (
    assessment,
    cutover,
    execution,
    planning,
    progress,
    recovery,
    service,
    tabular,
)
from cloudsvc.migration.lifecycle import SystemStatus
from cloudsvc.migration.models import LegacySystem, MigrationPlan, MigrationWave
from cloudsvc.migration.schemas import (
    AssessBulk,
    AssessIn,
    CutoverIn,
    CutoverOut,
    CutoverStepOut,
    DepartmentProgress,
    ExecuteIn,
    ExecuteOut,
    ImportResult,
    KpiOut,
    PlanIn,
    PlanOut,
    ProgressOut,
    Readiness,
    RecoverIn,
    SystemFilter,
    SystemIn,
    SystemOut,
    SystemPage,
    SystemPatch,
    TargetIn,
    WaveOut,
    WaveSystemOut,
)
from cloudsvc.migration.vocabulary import Strategy
from cloudsvc.pagination import decode_cursor, encode_cursor
from cloudsvc.resource_requests.schemas import Classification

router = APIRouter(prefix="/v1/migration", tags=["migration"])

SystemCodePath = Annotated[str, Path(pattern=CODE_PATTERN, description="Legacy system code")]
DatabaseDep = Annotated[Database, Depends(get_database)]


def system_out(system: LegacySystem, request_ids: Sequence[str] = ()) -> SystemOut:
    row = service.as_row(system)
    return SystemOut(
        **{k: v for k, v in row.items() if k != "dependencies"},
        dependencies=row["dependencies"],
        suggested_strategy=system.suggested_strategy,
        target_zone=system.target_zone.name if system.target_zone else None,
        status=system.status,
        status_reason=system.status_reason,
        readiness=Readiness.model_validate(system.readiness) if system.readiness else None,
        request_ids=list(request_ids),
        created_at=system.created_at,
        updated_at=system.updated_at,
    )


def _outs(session: Session, systems: Sequence[LegacySystem]) -> list[SystemOut]:
    ids = service.request_ids(session, systems)
    return [system_out(s, ids[s.id]) for s in systems]


def _filter(
    department_code: OptionalCodeQuery = None,
    status: Annotated[list[SystemStatus] | None, Query()] = None,
    strategy: Annotated[list[Strategy] | None, Query()] = None,
    classification: Classification | None = None,
) -> SystemFilter:
    return SystemFilter(
        department_code=department_code, status=status, strategy=strategy, classification=classification
    )


FilterDep = Annotated[SystemFilter, Depends(_filter)]


# --- inventory --------------------------------------------------------------------------------------------


@router.post("/systems", status_code=status.HTTP_201_CREATED, name="migration.systems.create")
def create_system(body: SystemIn, session: SessionDep, caller: CallerDep) -> SystemOut:
    system = service.create(session, caller, body)
    session.commit()
    return system_out(system)


@router.get("/systems", name="migration.systems.list")
def list_systems(
    session: SessionDep, caller: CallerDep, where: FilterDep, limit: Limit = 100, cursor: Cursor = None
) -> SystemPage:
    after = decode_cursor(cursor, str)[0] if cursor else None
    found = service.list_visible(session, caller, where, after_code=after, limit=limit)
    return SystemPage(
        items=_outs(session, found),
        next_cursor=encode_cursor(found[-1].code) if len(found) == limit else None,
    )


class Upload:
    """The uploaded table: a multipart form's ``file`` part, or the raw body with its content type."""

    def __init__(self, data: bytes, media_type: str) -> None:
        self.data = data
        self.media_type = media_type


async def _upload(request: Request) -> Upload:
    # Read first: the body size limit applies whatever was sent (Starlette parses a form from this copy).
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        async with request.form() as form:  # closes the spooled upload files when done
            part = form.get("file")
            if part is None or isinstance(part, str):
                raise InvalidInput("send the table as the multipart part named 'file'", field="file")
            data = await part.read()
            part_type = part.content_type or ""
        return Upload(data, part_type.split(";")[0].strip().lower())
    if media_type not in (tabular.CSV_TYPE, tabular.XLSX_TYPE):
        raise InvalidInput(
            f"send text/csv, {tabular.XLSX_TYPE} or multipart/form-data, not {media_type or 'nothing'}",
            field="body",
        )
    return Upload(body, media_type)


_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            tabular.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post(
    "/systems:import",
    name="migration.systems.import",
    openapi_extra=_IMPORT_BODY,
    responses={422: {"description": "Every bad row as errors: [{row, column, problem}]; nothing imported"}},
)
def import_systems(
    session: SessionDep, caller: CallerDep, upload: Annotated[Upload, Depends(_upload)]
) -> ImportResult:
    # The caller is declared first: FastAPI resolves dependencies in order, so 401 comes before any 422.
    service.require_importer(caller)
    try:
        rows = tabular.read_table(upload.data, upload.media_type)
    except tabular.UnreadableFile as exc:
        raise InvalidInput(str(exc), field="file") from exc
    parsed, problems = tabular.parse_rows(rows)
    result = service.import_rows(session, caller, parsed, problems)
    session.commit()
    return result


@router.get(
    "/systems:export",
    name="migration.systems.export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, tabular.XLSX_TYPE: {}}}},
)
def export_systems(
    session: SessionDep, caller: CallerDep, where: FilterDep, format: Literal["csv", "xlsx"] = "csv"
) -> Response:
    found = [
        service.as_row(s) for s in service.list_visible(session, caller, where, after_code=None, limit=None)
    ]
    if format == "xlsx":
        body, media_type = tabular.write_xlsx(found), tabular.XLSX_TYPE
    else:
        body, media_type = tabular.write_csv(found), tabular.CSV_TYPE + "; charset=utf-8"
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="legacy-systems.{format}"'},
    )


@router.get("/systems/{code}", name="migration.systems.get")
def get_system(code: SystemCodePath, session: SessionDep, caller: CallerDep) -> SystemOut:
    return _outs(session, [service.get(session, caller, code)])[0]


@router.put("/systems/{code}", name="migration.systems.replace")
def replace_system(code: SystemCodePath, body: SystemIn, session: SessionDep, caller: CallerDep) -> SystemOut:
    system = service.replace(session, caller, code, body)
    session.commit()
    return _outs(session, [system])[0]


@router.patch("/systems/{code}", name="migration.systems.patch")
def patch_system(
    code: SystemCodePath, body: SystemPatch, session: SessionDep, caller: CallerDep
) -> SystemOut:
    system = service.patch(session, caller, code, body)
    session.commit()
    return _outs(session, [system])[0]


@router.delete("/systems/{code}", status_code=status.HTTP_204_NO_CONTENT, name="migration.systems.delete")
def delete_system(code: SystemCodePath, session: SessionDep, caller: CallerDep) -> Response:
    service.remove(session, caller, code)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- assessment -------------------------------------------------------------------------------------------


@router.post("/systems/{code}:assess", name="migration.systems.assess")
def assess_system(
    code: SystemCodePath, session: SessionDep, caller: CallerDep, body: AssessIn | None = None
) -> SystemOut:
    system = assessment.assess(session, caller, code, note=body.note if body else None)
    session.commit()
    return _outs(session, [system])[0]


@router.post("/systems:assess", name="migration.systems.assess_bulk")
def assess_systems(body: AssessBulk, session: SessionDep, caller: CallerDep) -> list[SystemOut]:
    systems = assessment.assess_many(session, caller, body.codes, note=body.note)
    session.commit()
    return _outs(session, systems)


# --- plans and waves --------------------------------------------------------------------------------------


def _wave_out(wave: MigrationWave) -> WaveOut:
    return WaveOut(
        id=wave.id,
        number=wave.number,
        starts_on=wave.starts_on,
        ends_on=wave.ends_on,
        status=wave.status,
        systems=[
            WaveSystemOut(code=ws.system.code, reason=ws.reason, cutover_starts=ws.cutover_starts)
            for ws in wave.systems
        ],
    )


def _plan_out(plan: MigrationPlan) -> PlanOut:
    return PlanOut(
        id=plan.id,
        method=plan.method,
        optimal=plan.optimal,
        lower_bound=plan.lower_bound,
        parameters=plan.parameters,
        created_by=plan.created_by,
        created_at=plan.created_at,
        waves=[_wave_out(w) for w in plan.waves],
    )


@router.post("/plans", status_code=status.HTTP_201_CREATED, name="migration.plans.create")
def create_plan(body: PlanIn, session: SessionDep, caller: CallerDep) -> PlanOut:
    plan = planning.create(session, caller, body)
    session.commit()
    return _plan_out(plan)


@router.get("/plans/{plan_id}", name="migration.plans.get")
def get_plan(
    plan_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep, caller: CallerDep
) -> PlanOut:
    return _plan_out(planning.get(session, caller, plan_id))


WaveIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="Wave id")]


@router.get("/waves/{wave_id}", name="migration.waves.get")
def get_wave(wave_id: WaveIdPath, session: SessionDep, caller: CallerDep) -> WaveOut:
    return _wave_out(execution.get_wave(session, caller, wave_id))


@router.post("/waves/{wave_id}:execute", name="migration.waves.execute")
def execute_wave(
    wave_id: WaveIdPath,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    body: ExecuteIn | None = None,
) -> ExecuteOut:
    image = (body.image if body else None) or settings.migration_server_image
    wave = execution.execute(session, caller, wave_id, image=image)
    session.commit()
    return ExecuteOut(
        wave_id=wave.id, status=wave.status, systems=_outs(session, [ws.system for ws in wave.systems])
    )


# --- cutover ----------------------------------------------------------------------------------------------


def _cutover_out(session: Session, system: LegacySystem) -> CutoverOut:
    return CutoverOut(
        code=system.code,
        status=system.status,
        status_reason=system.status_reason,
        steps=[
            CutoverStepOut.model_validate(s, from_attributes=True) for s in cutover.steps_of(session, system)
        ],
    )


@router.post("/systems/{code}:cutover", name="migration.systems.cutover")
def cutover_system(
    code: SystemCodePath,
    database: DatabaseDep,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    body: CutoverIn | None = None,
) -> CutoverOut:
    """Run the cutover steps now (this call returns when they, or their rollback, are done)."""
    # The cutover writes in transactions of its own between playbook runs; the session that authenticated
    # the caller must not hold a transaction (on SQLite, the write lock) meanwhile.
    session.close()
    cutover.run(
        database, caller, code, dict(body.extravars) if body else {}, cutover.CutoverConfig.of(settings)
    )
    with database.session() as session:
        return _cutover_out(session, service.get(session, caller, code))


@router.post("/systems/{code}:recover", name="migration.systems.recover")
def recover_cutover(
    code: SystemCodePath,
    body: RecoverIn,
    database: DatabaseDep,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
) -> CutoverOut:
    """Take over a cutover whose run fell silent (its process died) and roll it back or resume it; or call
    off a move still provisioning (rollback)."""
    session.close()  # as for a cutover: the playbooks run between transactions of their own
    recovery.recover(
        database,
        caller,
        code,
        body.action,
        reason=body.reason,
        extravars=dict(body.extravars),
        config=cutover.CutoverConfig.of(settings),
    )
    with database.session() as session:
        return _cutover_out(session, service.get(session, caller, code))


@router.get("/systems/{code}/cutover", name="migration.systems.cutover_steps")
def get_cutover(code: SystemCodePath, session: SessionDep, caller: CallerDep) -> CutoverOut:
    return _cutover_out(session, service.get(session, caller, code))


# --- progress ---------------------------------------------------------------------------------------------


def _department_progress(figures: progress.DepartmentKpis) -> DepartmentProgress:
    return DepartmentProgress(
        department_code=figures.department_code,
        level=figures.level,
        systems=figures.systems,
        kpis=[
            KpiOut(
                kpi=f.kpi.value,
                numerator=f.numerator,
                denominator=f.denominator,
                share=f.share,
                target=f.target.share,
                due_on=f.target.due_on,
                met=f.met,
            )
            for f in figures.kpis.values()
        ],
        by_strategy=figures.by_strategy,
        by_status=figures.by_status,
    )


@router.get("/progress", name="migration.progress")
def get_progress(
    session: SessionDep, caller: CallerDep, department_code: OptionalCodeQuery = None
) -> ProgressOut:
    found = progress.visible_progress(session, caller, department_code)
    return ProgressOut(departments=[_department_progress(f) for f in found])


@router.put("/targets/{kpi}", name="migration.targets.put")
def put_target(kpi: progress.Kpi, body: TargetIn, session: SessionDep, caller: CallerDep) -> KpiOut:
    target = progress.set_target(session, caller, kpi, share=body.share, due_on=body.due_on)
    session.commit()
    return KpiOut(
        kpi=kpi.value,
        numerator=0,
        denominator=0,
        share=None,
        target=target.share,
        due_on=target.due_on,
        met=None,
    )
