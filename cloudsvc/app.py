"""The application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from cloudsvc import __version__
from cloudsvc.api import health, problems
from cloudsvc.api.middleware import RequestContextMiddleware
from cloudsvc.audit.views import router as audit_router
from cloudsvc.config import Settings
from cloudsvc.db import Database, migrate
from cloudsvc.departments.views import router as departments_router
from cloudsvc.migration.views import router as migration_router
from cloudsvc.monitoring.collector import metrics_registry
from cloudsvc.monitoring.views import router as monitoring_router
from cloudsvc.principals import service as principals
from cloudsvc.principals.views import router as principals_router
from cloudsvc.provisioning.worker import Worker, WorkerSettings
from cloudsvc.quotas.views import router as quotas_router
from cloudsvc.resource_requests.views import router as requests_router
from cloudsvc.zones.views import router as zones_router

log = logging.getLogger(__name__)


def _bootstrap(database: Database, token: str) -> None:
    try:
        schema = migrate.current_revision(database.engine)
    except SQLAlchemyError as exc:
        log.error("database unreachable at start-up (%s); /readyz will say so", type(exc).__name__)
        return
    if schema != migrate.head_revision():
        # The schema is the migrations' job, never the app's: say so and serve /readyz as 503.
        log.error(
            "database schema is at %s, not %s: run 'cloudsvc db upgrade'", schema, migrate.head_revision()
        )
        return
    with database.transaction() as session:
        if principals.bootstrap(session, token):
            log.warning("created the bootstrap system_admin from CLOUDSVC_BOOTSTRAP_TOKEN")


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    database = database or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.bootstrap_token is not None:
            _bootstrap(database, settings.bootstrap_token.get_secret_value())
        stop = threading.Event()
        thread = None
        if settings.runs_worker_in_process:  # the embedded default needs no second process
            worker = Worker(database, WorkerSettings.from_config(settings))
            thread = threading.Thread(target=worker.run, args=(stop,), name="cloudsvc-worker", daemon=True)
            thread.start()
        yield
        stop.set()
        if thread is not None:
            thread.join(timeout=30)

    app = FastAPI(
        title="cloudsvc",
        version=__version__,
        summary="Control plane of a provincial e-government cloud",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.metrics_registry = metrics_registry(database)
    problems.install(app)
    app.add_middleware(RequestContextMiddleware, database=database, max_body_bytes=settings.max_body_bytes)
    for router in (
        health.router,
        departments_router,
        principals_router,
        zones_router,
        requests_router,
        quotas_router,
        audit_router,
        monitoring_router,
        migration_router,
    ):
        app.include_router(router)
    return app
