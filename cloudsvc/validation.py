"""Constrained value types shared by the input schemas.

Every string that reaches the database passes ``_printable``: PostgreSQL refuses NUL characters, and control
characters have no business in names, so they are a 422 here instead of a 500 there.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, Strict, StringConstraints


def _printable(value: str) -> str:
    if any((ord(ch) < 32 and ch not in "\t\n\r") or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValueError("must not contain unpaired surrogates")
    return value


Code = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
    Field(description="Letters, digits, '_', '.', '-'; 1-64 characters, starting with a letter or digit"),
]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), AfterValidator(_printable)
]
Text = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_printable)]

SETTINGS_MAX_BYTES = 65_536


def _sane_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:  # Python's parser takes NaN and Infinity; JSON (and PostgreSQL's json) does not
        raise ValueError("must not contain NaN or Infinity") from exc
    if len(encoded.encode()) > SETTINGS_MAX_BYTES:
        raise ValueError(f"must be at most {SETTINGS_MAX_BYTES} bytes of JSON")
    if "\\u0000" in encoded:
        raise ValueError("must not contain NUL characters")
    _printable(encoded)
    return value


JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_sane_json)]


class StrictInput(BaseModel):
    """Base of every request body: unknown fields are an error, and nothing is coerced ("8" is not 8).

    Enum fields are declared ``Lax[...]``: JSON has no enums, so their values arrive as strings.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


E = TypeVar("E")
Lax = Annotated[E, Strict(False)]
