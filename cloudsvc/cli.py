"""The ``cloudsvc`` command line: run the service, migrate the database, administer, and read."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

from cloudsvc.config import Settings
from cloudsvc.db import Database, migrate
from cloudsvc.errors import DomainError
from cloudsvc.principals.authz import Caller, Grant
from cloudsvc.principals.models import Role


def _settings() -> Settings:
    return Settings()


def _reader() -> Caller:
    # Whoever has a shell and the database URL can read the database anyway; the CLI reads as an auditor.
    return Caller(
        principal_id="cli", name="cli", grants=(Grant(Role.auditor, None), Grant(Role.viewer, None))
    )


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@click.group(
    help="Control plane of a provincial e-government cloud. Settings come from CLOUDSVC_* variables."
)
def main() -> None:
    pass


@main.command(help="Run the HTTP API (uvicorn).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes")
def serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "cloudsvc.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # With several workers, uvicorn kills a child that does not answer its health check in time (5 s
        # by default), and a child still importing on a busy node cannot: it would be killed in a loop.
        timeout_worker_healthcheck=60,
    )


@main.command(help="Run the provisioning worker until interrupted (several may run side by side).")
@click.option(
    "--check",
    is_flag=True,
    help="Instead: exit 1 unless the worker on this machine beat its heartbeat recently "
    "(CLOUDSVC_WORKER_HEARTBEAT_FILE, ..._MAX_AGE_SECONDS); the container's liveness probe.",
)
def worker(check: bool) -> None:
    import signal
    import threading

    settings = _settings()
    if check:
        _check_heartbeat(settings)
        return

    from cloudsvc.provisioning.worker import Worker, WorkerSettings

    # A beat left by an earlier process (a restarted container keeps its /tmp) must not vouch for this one.
    settings.worker_heartbeat_file.unlink(missing_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Worker(Database(settings.database_url), WorkerSettings.from_config(settings)).run(stop)


def _check_heartbeat(settings: Settings) -> None:
    from cloudsvc.db import utcnow
    from cloudsvc.provisioning import heartbeat

    reason = heartbeat.stale(
        settings.worker_heartbeat_file, max_age=settings.worker_heartbeat_max_age_seconds, now=utcnow()
    )
    if reason is not None:
        click.echo(f"worker not alive: {reason}", err=True)
        sys.exit(1)
    click.echo("worker alive")


@main.group(help="Zones.")
def zones() -> None:
    pass


@zones.command("check", help="Ask every zone's driver whether the zone answers; exit 1 if one does not.")
def zones_check() -> None:
    from sqlalchemy import select

    from cloudsvc.zones import health
    from cloudsvc.zones.models import Zone

    database = Database(_settings().database_url)
    with database.session() as session:
        found = list(session.scalars(select(Zone).order_by(Zone.name)))
    answers = {zone.name: health.probe(database, zone) for zone in found}
    for name, answer in answers.items():
        click.echo(f"{name}\t{'ok' if answer.ok else 'DOWN'}\t{answer.message or ''}")
    if not all(a.ok for a in answers.values()):
        sys.exit(1)


@main.group(help="Database schema.")
def db() -> None:
    pass


@db.command(help="Apply every pending migration.")
def upgrade() -> None:
    settings = _settings()
    migrate.upgrade(settings.database_url)
    click.echo(f"schema at {migrate.head_revision()}")


@db.command(help="Show the schema revision of the database and of the code.")
def current() -> None:
    database = Database(_settings().database_url)
    click.echo(f"database: {migrate.current_revision(database.engine)}  code: {migrate.head_revision()}")


@main.group(help="Administration that needs shell access to the deployment.")
def admin() -> None:
    pass


@admin.command("create-principal", help="Create a principal and print its token (shown once).")
@click.option("--name", required=True)
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    metavar="ROLE[@DEPARTMENT]",
    help="Repeatable. Without @DEPARTMENT the role holds over the whole cloud.",
)
def create_principal(name: str, roles: tuple[str, ...]) -> None:
    from pydantic import ValidationError

    from cloudsvc.principals import service
    from cloudsvc.principals.schemas import PrincipalCreate

    bindings = [{"role": r.partition("@")[0], "department_code": r.partition("@")[2] or None} for r in roles]
    try:
        data = PrincipalCreate.model_validate({"name": name, "roles": bindings})
    except ValidationError as exc:
        raise click.BadParameter(str(exc)) from exc
    database = Database(_settings().database_url)
    try:
        with database.transaction() as session:
            created = service.create(session, None, data)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    _echo_json({"id": created.principal.id, "name": name, "token": created.token})


@main.group(help="Read departments.")
def departments() -> None:
    pass


@departments.command("list", help="List departments (optionally the children of one).")
@click.option("--parent", default=None, help="Parent department code")
@click.option("--limit", default=100, show_default=True, type=int)
def departments_list(parent: str | None, limit: int) -> None:
    from cloudsvc.departments import service

    database = Database(_settings().database_url)
    with database.session() as session:
        found = service.list_visible(session, _reader(), parent_code=parent, after_code=None, limit=limit)
        for department in found:
            click.echo(f"{department.code}\t{department.level}\t{department.name}")


@main.group(help="Read resource requests.")
def requests() -> None:
    pass


@requests.command("list", help="List requests, newest first.")
@click.option("--department", default=None, help="A department code: its whole subtree")
@click.option("--status", default=None)
@click.option("--limit", default=50, show_default=True, type=int)
def requests_list(department: str | None, status: str | None, limit: int) -> None:
    from cloudsvc.resource_requests import service
    from cloudsvc.resource_requests.lifecycle import Status

    database = Database(_settings().database_url)
    with database.session() as session:
        found = service.list_visible(
            session,
            _reader(),
            department_code=department,
            status=Status(status) if status else None,
            before=None,
            limit=limit,
        )
        for request in found:
            click.echo(f"{request.id}\t{request.department.code}\t{request.kind}\t{request.status}")


@main.group(help="Quota counters.")
def quotas() -> None:
    pass


@quotas.command("check", help="Recompute every counter from the ledger; exit 1 on drift unless --repair.")
@click.option("--repair", is_flag=True, help="Set drifted counters to the ledger's values")
def quotas_check(repair: bool) -> None:
    from cloudsvc.audit import service as audit_service
    from cloudsvc.audit.service import Actor
    from cloudsvc.quotas import reconcile

    database = Database(_settings().database_url)
    with database.transaction() as session:
        drifts = reconcile.check(session, repair=repair)
        if drifts and repair:
            audit_service.record(
                session,
                actor=Actor(principal_id=None, name="cli"),
                action="quota.repair",
                target_type="quota_counters",
                target_id=None,
                detail={"repaired": len(drifts)},
            )
    _echo_json({"drifts": [d.__dict__ for d in drifts], "repaired": repair and bool(drifts)})
    if drifts and not repair:
        sys.exit(1)


@main.group(help="The audit trail.")
def audit() -> None:
    pass


@audit.command(
    "verify",
    help="Check the hash chain and record the outcome for GET /metrics; exit 1 if any stored event was "
    "changed or removed.",
)
def audit_verify() -> None:
    from cloudsvc.audit import service
    from cloudsvc.db import utcnow
    from cloudsvc.monitoring import recording

    database = Database(_settings().database_url)
    try:
        with database.session() as session:
            result = service.verify(session)
        with database.transaction() as session:  # what the "audit verification failing" alert watches
            recording.record_verification(session, ok=result.ok, events=result.events, at=utcnow())
    finally:
        database.dispose()
    _echo_json(result.__dict__)
    if not result.ok:
        sys.exit(1)


@main.group(help="Migration of legacy systems: inventory, assessment, plans, execution, cutover, progress.")
def migration() -> None:
    pass


def _migration_database() -> Database:
    database = Database(_settings().database_url)
    click.get_current_context().call_on_close(database.dispose)  # pooled connections go with the command
    return database


def _operator() -> Caller:
    # Changing the inventory from a shell is an operator's act; the audit trail names the CLI as the actor.
    return Caller(principal_id="cli", name="cli", grants=(Grant(Role.operator, None),))


def _principal(database: Database, why: str) -> Caller:
    """The principal whose token is in CLOUDSVC_TOKEN: for acts that must name a real principal.

    The token comes from the environment, not an option, so that it stays out of ``ps`` and shell history.
    """
    import os

    from cloudsvc.principals import service

    token = os.environ.get("CLOUDSVC_TOKEN")
    if not token:
        raise click.ClickException(f"set CLOUDSVC_TOKEN to an operator's token: {why}")
    try:
        with database.session() as session:
            return service.authenticate(session, token)
    except DomainError as exc:
        raise click.ClickException(f"CLOUDSVC_TOKEN: {exc.message}") from exc


def _acting(database: Database) -> Caller:
    """The principal of CLOUDSVC_TOKEN when it is set, so that the audit trail names the operator; else the
    CLI's operator."""
    import os

    if os.environ.get("CLOUDSVC_TOKEN"):
        return _principal(database, "")
    return _operator()


def _cutover_summary(session: Any, code: str, caller: Caller) -> dict[str, Any]:
    from cloudsvc.migration import cutover, service

    system = service.get(session, caller, code)
    return {
        "code": system.code,
        "status": system.status,
        "status_reason": system.status_reason,
        "steps": [
            {
                "attempt": s.attempt,
                "step": s.step,
                "rollback": s.rollback,
                "outcome": s.outcome,
                "failed_task": s.failed_task,
                "message": s.message,
            }
            for s in cutover.steps_of(session, system)
        ],
    }


@migration.command("import", help="Import legacy systems from a CSV or XLSX file (all rows or none).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def migration_import(path: str) -> None:
    from pathlib import Path

    from cloudsvc.migration import service, tabular

    data = Path(path).read_bytes()
    media_type = tabular.XLSX_TYPE if path.lower().endswith(".xlsx") else tabular.CSV_TYPE
    database = _migration_database()
    try:
        rows = tabular.read_table(data, media_type)
        parsed, problems = tabular.parse_rows(rows)
        with database.transaction() as session:
            result = service.import_rows(session, _operator(), parsed, problems)
    except tabular.UnreadableFile as exc:
        raise click.ClickException(str(exc)) from exc
    except service.ImportRejected as exc:
        for problem in exc.extra["errors"]:
            click.echo(f"row {problem['row']}\t{problem['column']}\t{problem['problem']}", err=True)
        raise click.ClickException(exc.message) from exc
    _echo_json(result.model_dump())


@migration.command("export", help="Write the inventory as CSV or XLSX.")
@click.option("--format", "format_", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True)
@click.option("--department", default=None, help="A department code: its whole subtree")
def migration_export(format_: str, output: str, department: str | None) -> None:
    from pathlib import Path

    from cloudsvc.migration import service, tabular
    from cloudsvc.migration.schemas import SystemFilter

    database = _migration_database()
    with database.session() as session:
        found = service.list_visible(
            session, _operator(), SystemFilter(department_code=department), after_code=None, limit=None
        )
        rows = [service.as_row(s) for s in found]
    Path(output).write_bytes(tabular.write_xlsx(rows) if format_ == "xlsx" else tabular.write_csv(rows))
    click.echo(f"{len(rows)} systems written to {output}")


@migration.command("plan", help="Plan waves for the systems given (or matching a department).")
@click.option("--system", "systems", multiple=True, help="Repeatable system code")
@click.option("--department", default=None, help="Or: every system of this department's subtree")
@click.option("--start", "first_wave_starts", required=True, help="First wave's first day, YYYY-MM-DD")
@click.option("--wave-days", default=14, show_default=True, type=int)
@click.option("--max-systems", default=10, show_default=True, type=int, help="Systems per wave")
@click.option("--max-vcpus", default=256, show_default=True, type=int, help="vCPUs per wave")
@click.option("--max-storage-gb", default=50_000, show_default=True, type=int, help="Storage per wave")
@click.option("--max-cutover-hours", default=48.0, show_default=True, type=float, help="Per wave")
@click.option(
    "--method", type=click.Choice(["auto", "cpsat", "heuristic"]), default="auto", show_default=True
)
def migration_plan(
    systems: tuple[str, ...],
    department: str | None,
    first_wave_starts: str,
    wave_days: int,
    max_systems: int,
    max_vcpus: int,
    max_storage_gb: int,
    max_cutover_hours: float,
    method: str,
) -> None:
    from pydantic import ValidationError

    from cloudsvc.migration import planning
    from cloudsvc.migration.schemas import PlanIn

    try:
        data = PlanIn.model_validate(
            {
                "systems": list(systems) or None,
                "filter": None if systems else {"department_code": department},
                "capacity": {
                    "systems": max_systems,
                    "vcpus": max_vcpus,
                    "storage_gb": max_storage_gb,
                    "cutover_hours": max_cutover_hours,
                },
                "first_wave_starts": first_wave_starts,
                "wave_days": wave_days,
                "method": method,
            },
            strict=False,
        )
    except ValidationError as exc:
        raise click.BadParameter(str(exc)) from exc
    database = _migration_database()
    try:
        with database.transaction() as session:
            plan = planning.create(session, _operator(), data)
            summary = {
                "id": plan.id,
                "method": plan.method,
                "optimal": plan.optimal,
                "lower_bound": plan.lower_bound,
                "waves": [
                    {
                        "id": w.id,
                        "number": w.number,
                        "starts_on": w.starts_on.isoformat(),
                        "systems": {ws.system.code: ws.reason for ws in w.systems},
                        "cutover_starts": {
                            ws.system.code: ws.cutover_starts.isoformat(timespec="minutes")
                            for ws in w.systems
                            if ws.cutover_starts is not None
                        },
                    }
                    for w in plan.waves
                ],
            }
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    _echo_json(summary)


@migration.command(
    "assess",
    help="Assess systems (strategy, target zone, readiness): those given, or the systems of a department's "
    "subtree that are not started, assessed or planned.",
)
@click.option("--system", "systems", multiple=True, help="Repeatable system code")
@click.option("--department", default=None, help="Or: the systems of this department's subtree")
@click.option("--note", default=None, help="Why, for the audit trail")
def migration_assess(systems: tuple[str, ...], department: str | None, note: str | None) -> None:
    from cloudsvc.migration import assessment, service
    from cloudsvc.migration.lifecycle import SystemStatus
    from cloudsvc.migration.schemas import SystemFilter

    if bool(systems) == bool(department):
        raise click.UsageError("give either --system (repeatable) or --department")
    database = _migration_database()
    caller = _acting(database)
    try:
        with database.transaction() as session:
            codes = list(systems)
            if department:
                # Not those an operator decided on (retained), nor those a cutover rolled back: assessing them
                # again would undo that decision or drop them from their retry; name them to do so.
                fresh = [SystemStatus.not_started, SystemStatus.assessed, SystemStatus.planned]
                where = SystemFilter(department_code=department, status=fresh)
                codes = [
                    s.code for s in service.list_visible(session, caller, where, after_code=None, limit=None)
                ]
            if not codes:
                raise click.ClickException(f"no system of {department} can be assessed")
            found = assessment.assess_many(session, caller, codes, note=note)
            summary = [
                {
                    "code": s.code,
                    "status": s.status,
                    "strategy": s.strategy,
                    "suggested_strategy": s.suggested_strategy,
                    "target_zone": s.target_zone.name if s.target_zone else None,
                    **(s.readiness or {}),
                }
                for s in found
            ]
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    _echo_json(summary)


@migration.command(
    "execute",
    help="Execute a wave: its planned systems' resource requests go through quota and approval. Acts as the "
    "principal whose token is in CLOUDSVC_TOKEN (the requests name it as requester).",
)
@click.argument("wave_id", type=click.IntRange(1, 2**31 - 1))
@click.option(
    "--image", default=None, help="Image of the servers; CLOUDSVC_MIGRATION_SERVER_IMAGE if not given"
)
def migration_execute(wave_id: int, image: str | None) -> None:
    from cloudsvc.migration import execution, service
    from cloudsvc.migration.schemas import ExecuteIn

    try:
        chosen = ExecuteIn.model_validate({"image": image}).image
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--image") from exc
    settings = _settings()
    database = _migration_database()
    caller = _principal(database, "the resource requests name a principal as their requester")
    try:
        with database.transaction() as session:
            wave = execution.execute(
                session, caller, wave_id, image=chosen or settings.migration_server_image
            )
            systems = [ws.system for ws in wave.systems]
            ids = service.request_ids(session, systems)
            summary = {
                "wave_id": wave.id,
                "number": wave.number,
                "status": wave.status,
                "systems": {s.code: {"status": s.status, "request_ids": ids[s.id]} for s in systems},
            }
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    _echo_json(summary)


def _extravars(pairs: tuple[str, ...]) -> dict[str, Any]:
    from pydantic import ValidationError

    from cloudsvc.migration.schemas import CutoverIn

    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--var")
        found[key] = value
    try:
        return dict(CutoverIn.model_validate({"extravars": found}).extravars)
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint="--var") from exc


@migration.command(
    "cutover",
    help="Run a provisioned system's cutover steps now (the Ansible playbooks); a failing step rolls back. "
    "Exit 1 unless the system ends migrated.",
)
@click.argument("code")
@click.option("--var", "variables", multiple=True, metavar="KEY=VALUE", help="Repeatable extra variable")
def migration_cutover(code: str, variables: tuple[str, ...]) -> None:
    from cloudsvc.migration import cutover

    extravars = _extravars(variables)
    settings = _settings()
    database = _migration_database()
    caller = _acting(database)
    config = cutover.CutoverConfig.of(settings)
    try:
        cutover.run(database, caller, code, extravars, config)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    with database.session() as session:
        summary = _cutover_summary(session, code, caller)
    _echo_json(summary)
    if summary["status"] != "migrated":
        sys.exit(1)


@migration.command(
    "recover",
    help="Take over a cutover whose run fell silent (its process died) and roll it back or resume it; give "
    "the extra variables it was started with. Exit 1 unless the system ends migrated.",
)
@click.argument("code")
@click.option("--action", type=click.Choice(["rollback", "resume"]), required=True)
@click.option("--reason", required=True, help="Why, for the audit trail and the system's reason")
@click.option("--var", "variables", multiple=True, metavar="KEY=VALUE", help="Repeatable extra variable")
def migration_recover(code: str, action: str, reason: str, variables: tuple[str, ...]) -> None:
    from pydantic import ValidationError

    from cloudsvc.migration import cutover, recovery
    from cloudsvc.migration.schemas import RecoverIn

    try:
        data = RecoverIn.model_validate(
            {"action": action, "reason": reason, "extravars": _extravars(variables)}, strict=False
        )
    except ValidationError as exc:
        raise click.BadParameter(str(exc)) from exc
    settings = _settings()
    database = _migration_database()
    caller = _acting(database)
    config = cutover.CutoverConfig.of(settings)
    try:
        recovery.recover(
            database,
            caller,
            code,
            data.action,
            reason=data.reason,
            extravars=dict(data.extravars),
            config=config,
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    with database.session() as session:
        summary = _cutover_summary(session, code, caller)
    _echo_json(summary)
    if summary["status"] != "migrated":
        sys.exit(1)


@migration.command("progress", help="KPIs against the targets, per department subtree.")
def migration_progress() -> None:
    from cloudsvc.migration import progress

    database = _migration_database()
    with database.session() as session:
        figures = progress.migration_kpis(session)
    _echo_json(
        [
            {
                "department_code": f.department_code,
                "systems": f.systems,
                "kpis": {
                    k.value: {
                        "share": v.share,
                        "target": v.target.share,
                        "numerator": v.numerator,
                        "denominator": v.denominator,
                    }
                    for k, v in f.kpis.items()
                },
                "by_strategy": f.by_strategy,
                "by_status": f.by_status,
            }
            for f in figures
        ]
    )
