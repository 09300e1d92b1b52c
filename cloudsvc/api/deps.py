"""FastAPI dependencies, as Annotated aliases the views declare."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cloudsvc.config import Settings
from cloudsvc.db import Database
from cloudsvc.errors import NotAuthenticated
from cloudsvc.principals import service as principals
from cloudsvc.principals.authz import Caller

_bearer = HTTPBearer(auto_error=False, description="The API token a principal was given when created")


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(database: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """A session per HTTP request. Views commit explicitly; whatever was not committed is rolled back."""
    with database.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_caller(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None:
        raise NotAuthenticated("send 'Authorization: Bearer <token>'")
    caller = principals.authenticate(
        session, credentials.credentials, http_request_id=getattr(request.state, "request_id", None)
    )
    request.state.caller = caller  # the failure-audit middleware names the actor from here
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]

Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")]
