"""The domain's exceptions.

Every error the service layer raises on purpose is a ``DomainError``. Each carries an HTTP-neutral ``kind``
that the API layer maps to a status code in one place (``cloudsvc.api.problems``), a human message, and
optionally the offending ``field`` and structured ``extra`` facts (current state, shortfall, …)::

    DomainError
    ├── InvalidInput      a value is well-formed but not acceptable (unknown department, bad level order)
    ├── NotAuthenticated  no or unknown credentials
    ├── Forbidden         the principal may see the target but not do this to it
    ├── NotFound          absent, or invisible to this principal (the two look the same on purpose)
    └── Conflict          the target's state forbids it (illegal transition, duplicate code)
        ├── IllegalTransition
        └── QuotaExceeded the demand does not fit under some department's limit
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    kind: ClassVar[str] = "error"
    title: ClassVar[str] = "Error"
    problem_type: ClassVar[str | None] = None  # a more specific problem type than ``kind``, if any

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class InvalidInput(DomainError):
    kind = "invalid"
    title = "Invalid input"


class NotAuthenticated(DomainError):
    kind = "unauthenticated"
    title = "Not authenticated"


class Forbidden(DomainError):
    kind = "forbidden"
    title = "Forbidden"


class NotFound(DomainError):
    kind = "not_found"
    title = "Not found"

    def __init__(self, what: str, key: str, *, field: str | None = None) -> None:
        super().__init__(f"{what} {key!r} not found", field=field)


class Conflict(DomainError):
    kind = "conflict"
    title = "Conflict"


class IllegalTransition(Conflict):
    title = "Illegal state transition"

    def __init__(self, *, current: str, wanted: str, message: str | None = None) -> None:
        super().__init__(
            message or f"cannot go from {current} to {wanted}", current_status=current, wanted_status=wanted
        )


class QuotaExceeded(Conflict):
    """``shortfalls``: one entry per department and class that lacks room, as plain JSON-ready dicts."""

    title = "Quota exceeded"
    problem_type = "quota-exceeded"

    def __init__(self, message: str, *, shortfalls: list[dict[str, Any]]) -> None:
        super().__init__(message, shortfalls=shortfalls)
