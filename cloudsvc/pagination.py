"""Opaque keyset cursors: a page's last sort key, base64-encoded JSON. Stable under concurrent inserts."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from cloudsvc.errors import InvalidInput


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode()


# Cursor parts go straight into queries, so they must be values the database takes: every key this API puts
# in a cursor is an INTEGER id or a printable ASCII string (a code, a uuid, an ISO timestamp). Anything else
# (NUL, a lone surrogate, an int past the column's range) would only fail there, as a 500.
_MAX_ID = 2**31 - 1


def _issuable(part: Any, kind: type) -> bool:
    if not isinstance(part, kind) or isinstance(part, bool):
        return False
    if isinstance(part, str):
        return part.isascii() and part.isprintable()
    if isinstance(part, int):
        return 0 <= part <= _MAX_ID
    return True


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """Decode a cursor made by ``encode_cursor`` whose parts have the given types, or raise InvalidInput."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidInput("cursor is not one this API issued", field="cursor") from exc
    if (
        not isinstance(parts, list)
        or len(parts) != len(types)
        or not all(_issuable(part, kind) for part, kind in zip(parts, types, strict=True))
    ):
        raise InvalidInput("cursor is not one this API issued", field="cursor")
    return tuple(parts)


def decode_time_cursor(cursor: str) -> tuple[datetime, str]:
    """A (timestamp, id) cursor, for lists ordered newest first."""
    at, key = decode_cursor(cursor, str, str)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError as exc:
        raise InvalidInput("cursor is not one this API issued", field="cursor") from exc
    if moment.tzinfo is None:
        raise InvalidInput("cursor is not one this API issued", field="cursor")
    return moment, key
