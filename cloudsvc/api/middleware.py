"""ASGI middleware: request ids, the body size limit, and auditing of refused state-changing calls.

Successful changes are audited by the service layer inside their own transaction. A call that fails has
had its transaction rolled back, so its audit event is written here, afterwards, in a transaction of its own.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

import anyio.to_thread
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudsvc.audit import service as audit
from cloudsvc.audit.service import Actor
from cloudsvc.db import Database

log = logging.getLogger(__name__)

_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


def _clean(text: str, limit: int) -> str:
    return _CONTROL.sub("?", text)[:limit]


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, database: Database, max_body_bytes: int) -> None:
        self.app = app
        self.database = database
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status: dict[str, int] = {}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, send_with_id)
        else:
            await self.app(scope, receive_limited, send_with_id)

        code = status.get("code", 500)
        if scope["method"] in _MUTATING and scope["path"].startswith("/v1/") and code >= 400:
            await anyio.to_thread.run_sync(self._audit_refusal, scope, code)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "type": "urn:cloudsvc:problem:http-413",
                "title": "Request body too large",
                "status": 413,
                "detail": f"request body larger than {self.max_body_bytes} bytes",
                "instance": scope["path"],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _audit_refusal(self, scope: Scope, code: int) -> None:
        state: dict[str, Any] = scope.get("state", {})
        caller = state.get("caller")
        actor = caller.actor if caller else Actor(None, "anonymous", state.get("request_id"))
        route = scope.get("route")
        params = {k: _clean(str(v), 200) for k, v in (scope.get("path_params") or {}).items()}
        problem = state.get("problem") or {}
        outcome = "denied" if code in (401, 403) else "error" if code >= 500 else "rejected"
        try:
            with self.database.transaction() as session:
                audit.record(
                    session,
                    actor=actor,
                    action=getattr(route, "name", None) or "unrouted",
                    target_type=next(iter(params), "path"),
                    target_id=next(iter(params.values()), None),
                    outcome=outcome,
                    detail={
                        "status": code,
                        "method": scope["method"],
                        "path": _clean(scope["path"], 300),
                        "detail": _clean(str(problem.get("detail", "")), 500),
                    },
                )
        except Exception:  # an audit write must never turn a refusal into a crash; it is logged loudly
            log.exception("could not audit refused call %s %s", scope["method"], scope["path"])
