"""Path and query parameter types, validated before they reach a query (a NUL byte is a 422, not a 500)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

DepartmentCodePath = Annotated[str, Path(pattern=CODE_PATTERN, description="Department code")]
ZoneNamePath = Annotated[str, Path(pattern=CODE_PATTERN, description="Zone name")]
RequestIdPath = Annotated[uuid.UUID, Path(description="Request id")]
OptionalCodeQuery = Annotated[str | None, Query(pattern=CODE_PATTERN)]


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:00-05:00 is past the last instant a datetime can hold
        raise ValueError("must fall within years 1-9999 once converted to UTC") from exc


UTCDatetimeQuery = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""An instant with an explicit offset, converted to UTC here (where an overflow is a 422, not a 500)."""
