"""RFC 9457 problem details: the one place where errors become HTTP responses.

Domain errors map by kind; validation errors name the offending field as a dotted path ("spec.vcpus",
"roles[0].role"). Anything unexpected is logged and becomes a bare 500 that reveals nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloudsvc.errors import DomainError
from cloudsvc.resource_requests.schemas import SUBMISSION_KINDS

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
STATUS_BY_KIND = {"invalid": 422, "unauthenticated": 401, "forbidden": 403, "not_found": 404, "conflict": 409}
_HEADER_LOCATIONS = {"idempotency-key": "Idempotency-Key", "x-request-id": "X-Request-ID"}


def problem(
    request: Request,
    status: int,
    title: str,
    detail: str,
    *,
    kind: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"urn:cloudsvc:problem:{kind}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **{k: v for k, v in extra.items() if v is not None},
    }
    request.state.problem = {"status": status, "kind": kind, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def field_path(loc: Sequence[int | str]) -> str:
    """('body', 'server', 'spec', 'vcpus') → 'spec.vcpus'; ('header', 'idempotency-key') → the header name."""
    where, parts = (loc[0], list(loc[1:])) if loc else ("body", [])
    if where == "header" and parts:
        return _HEADER_LOCATIONS.get(str(parts[0]).lower(), str(parts[0]))
    if where == "body" and parts and parts[0] in SUBMISSION_KINDS:
        parts = parts[1:]  # the discriminated union's tag, not a field the client sent
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or ("body" if where == "body" else str(where))


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors():
        field = field_path(error.get("loc", ()))
        if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            field = "kind"
        elif error.get("type") == "json_invalid":
            field = "body"  # its location holds a character offset into the body, not a list index
        errors.append(
            {"field": field, "message": str(error.get("msg", "invalid")), "type": str(error.get("type"))}
        )
    return errors


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        status = STATUS_BY_KIND.get(exc.kind, 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return problem(
            request,
            status,
            exc.title,
            exc.message,
            kind=exc.problem_type or exc.kind,
            headers=headers,
            field=exc.field,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem(
            request,
            422,
            "Invalid input",
            f"{first['field']}: {first['message']}",
            kind="invalid",
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            request,
            exc.status_code,
            str(exc.detail),
            str(exc.detail),
            kind=f"http-{exc.status_code}",
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, "Internal error", "an unexpected error occurred", kind="internal")
