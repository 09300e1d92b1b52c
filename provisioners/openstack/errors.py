"""openstacksdk's and keystoneauth's exceptions, sorted into the contract's error tree at the edge."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import requests
import tenacity
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as os_exceptions

from provisioners.base import DriverError, PermanentError, TemporaryError, ZoneUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# 408 and 429 are the client errors that go away by themselves.
TRANSIENT_STATUS = frozenset({408, 429})


def _status(exc: BaseException) -> int | None:
    if isinstance(exc, os_exceptions.HttpException):
        return exc.status_code
    if isinstance(exc, ks_exceptions.HttpError):
        return exc.http_status
    return None


def backend_message(exc: BaseException) -> str:
    """The backend's own words, with the status and the call when there was one."""
    if isinstance(exc, os_exceptions.HttpException):
        details = exc.details or exc.message
        url = exc.url.decode(errors="replace") if isinstance(exc.url, bytes) else exc.url
        where = f"{exc.method} {url}" if url else "the API"
        return f"{details} (HTTP {exc.status_code} from {where})"
    text = str(exc) or type(exc).__name__
    status = _status(exc)
    return f"{text} (HTTP {status})" if status and f"HTTP {status}" not in text else text


def is_transient(exc: BaseException) -> bool:
    """Whether the same call may well succeed in a moment: worth retrying here."""
    if isinstance(exc, ZoneUnavailable):
        # Raised while authenticating: retry only if Keystone was unreachable, not if it said no.
        return exc.__cause__ is not None and is_transient(exc.__cause__)
    if isinstance(exc, DriverError):
        return False
    status = _status(exc)
    if status is not None:
        return status >= 500 or status in TRANSIENT_STATUS
    return isinstance(
        exc,
        ks_exceptions.ConnectTimeout
        | ks_exceptions.ConnectFailure
        | ks_exceptions.UnknownConnectionError
        | ks_exceptions.DiscoveryFailure  # raised when an endpoint cannot be reached for version discovery
        | requests.ConnectionError
        | requests.Timeout,
    )


def is_unauthorized(exc: BaseException) -> bool:
    return _status(exc) == 401


class TenancyGone(TemporaryError):
    """Part of a department's tenancy (its project, its network) is not where the driver left it: the next
    pass sets it up again."""


def may_be_gone(exc: DriverError) -> bool:
    """Whether ``exc`` may mean the department's project or network went behind the driver's back (so what
    the driver remembers of it must go too), rather than that one call failed."""
    if isinstance(exc, TenancyGone | ZoneUnavailable):
        return True
    cause = exc.__cause__
    return cause is not None and _status(cause) in (401, 403, 404)


def translate(exc: Exception) -> DriverError:
    """The contract's error for ``exc`` (already a DriverError: itself)."""
    if isinstance(exc, DriverError):
        return exc
    message = backend_message(exc)
    if is_unauthorized(exc):
        return ZoneUnavailable(f"OpenStack refused the zone's credentials: {message}")
    if is_transient(exc):
        return TemporaryError(f"OpenStack did not answer in time or failed; try again: {message}")
    if isinstance(
        exc,
        os_exceptions.EndpointNotFound
        | os_exceptions.ServiceDisabledException
        | ks_exceptions.EndpointNotFound,
    ):
        return PermanentError(f"no such endpoint in the zone's catalog (check region_name): {message}")
    if isinstance(
        exc, os_exceptions.SDKException | ks_exceptions.ClientException | requests.RequestException
    ):
        return PermanentError(message)
    # Not an OpenStack error: a bug here or in the SDK. Logged with its traceback so it gets seen.
    log.error("unexpected error in the OpenStack driver", exc_info=exc)
    return DriverError(f"unexpected {type(exc).__name__} in the OpenStack driver: {exc}")


def authentication_error(exc: Exception, auth_url: str) -> ZoneUnavailable:
    """Anything going wrong while getting a token means the zone is not usable now."""
    if isinstance(exc, DriverError):
        return ZoneUnavailable(str(exc))
    if is_unauthorized(exc):
        return ZoneUnavailable(
            f"Keystone at {auth_url} refused the zone's credentials: {backend_message(exc)}"
        )
    return ZoneUnavailable(f"cannot reach Keystone at {auth_url}: {backend_message(exc)}")


class Edge:
    """Runs one public driver call: transient failures retried, then every error translated."""

    def __init__(self, attempts: int, max_seconds: float, max_wait: float = 2.0) -> None:
        self.attempts = attempts
        self.max_seconds = max_seconds
        self.max_wait = max_wait

    def run(self, call: Callable[[], T]) -> T:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_transient),
            stop=tenacity.stop_after_attempt(self.attempts) | tenacity.stop_after_delay(self.max_seconds),
            wait=tenacity.wait_exponential(multiplier=0.2, max=self.max_wait),
            before_sleep=tenacity.before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        try:
            return retrying(call)
        except DriverError:
            raise
        except Exception as exc:
            raise translate(exc) from exc
