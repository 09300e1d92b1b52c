from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from cloudsvc.api.deps import SessionDep
from cloudsvc.db import migrate

router = APIRouter(tags=["health"])


@router.get("/healthz", name="health.live")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", name="health.ready", response_model=None)
def readyz(session: SessionDep) -> JSONResponse:
    """The database answers and its schema is at the code's migration head."""
    try:
        session.execute(text("SELECT 1"))
        current = migrate.current_revision(session.connection())
    except Exception as exc:  # any database failure means "not ready", with the reason
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
    head = migrate.head_revision()
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "reason": f"schema at {current}, code expects {head}; run 'cloudsvc db upgrade'",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready", "schema": head})
