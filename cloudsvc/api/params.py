"""Path and query parameter types, validated before they reach a query (a NUL byte is a 422, not a 500)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Path, Query

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

DepartmentCodePath = Annotated[str, Path(pattern=CODE_PATTERN, description="Department code")]
ZoneNamePath = Annotated[str, Path(pattern=CODE_PATTERN, description="Zone name")]
RequestIdPath = Annotated[uuid.UUID, Path(description="Request id")]
OptionalCodeQuery = Annotated[str | None, Query(pattern=CODE_PATTERN)]
