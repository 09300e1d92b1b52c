"""The kubernetes client's and urllib3's exceptions, sorted into the contract's error tree at the edge.

ApiException 401                          → ZoneUnavailable (the API server refuses the credentials)
ApiException 408, 409 Conflict, 429, 5xx  → retried here, then TemporaryError
ApiException 403 "being terminated"       → retried here, then TemporaryError (a namespace on its way out)
ApiException other 4xx (quota, Invalid …) → PermanentError, in the API server's own words
urllib3 connection errors (refused, DNS)  → retried here, then ZoneUnavailable
urllib3 other errors (resets, timeouts)   → retried here, then TemporaryError
ConfigException (kubeconfig, in-cluster)  → ZoneUnavailable (found at the first call, not at registration)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import tenacity
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException, OpenApiException
from kubernetes.config.config_exception import ConfigException

from provisioners.base import DriverError, PermanentError, TemporaryError, ZoneUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT_STATUS = frozenset({408, 409, 429})  # 409 here is a resourceVersion Conflict: read again, retry


def status_of(exc: ApiException) -> dict[str, Any]:
    """The Status object an API server sends as the body of an error (empty if it sent something else)."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) and body.get("kind") == "Status" else {}


def reason_of(exc: ApiException) -> str:
    return str(status_of(exc).get("reason") or exc.reason or "")


def backend_message(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        status = status_of(exc)
        message = status.get("message") or (exc.body or "").strip()[:300] or exc.reason
        return f"{message} (HTTP {exc.status} {status.get('reason') or exc.reason})"
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return f"{exc.reason} ({exc.url})"
    return str(exc) or type(exc).__name__


def _terminating(exc: ApiException) -> bool:
    return exc.status == 403 and "being terminated" in str(status_of(exc).get("message", ""))


def _unreachable(exc: BaseException) -> bool:
    """No connection could be made at all (as opposed to one that broke or timed out)."""
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        return isinstance(exc.reason, urllib3.exceptions.NewConnectionError)
    return isinstance(exc, urllib3.exceptions.NewConnectionError)


def is_transient(exc: BaseException) -> bool:
    """Whether the same call may well succeed in a moment: worth retrying here."""
    if isinstance(exc, DriverError):
        return False
    if isinstance(exc, ApiException):
        return (exc.status or 0) >= 500 or exc.status in TRANSIENT_STATUS or _terminating(exc)
    return isinstance(exc, urllib3.exceptions.HTTPError)


def translate(exc: Exception) -> DriverError:
    """The contract's error for ``exc`` (already a DriverError: itself)."""
    if isinstance(exc, DriverError):
        return exc
    message = backend_message(exc)
    if isinstance(exc, ApiException) and exc.status == 401:
        return ZoneUnavailable(f"the Kubernetes API server refused the zone's credentials: {message}")
    if isinstance(exc, ConfigException):
        return ZoneUnavailable(f"no usable Kubernetes configuration: {message}")
    if _unreachable(exc):
        return ZoneUnavailable(f"cannot reach the Kubernetes API server: {message}")
    if is_transient(exc):
        return TemporaryError(f"the Kubernetes API did not answer in time or failed; try again: {message}")
    if isinstance(exc, ApiException | OpenApiException):
        return PermanentError(message)
    # Not a Kubernetes error: a bug here or in the client. Logged with its traceback so it gets seen.
    log.error("unexpected error in the Kubernetes driver", exc_info=exc)
    return DriverError(f"unexpected {type(exc).__name__} in the Kubernetes driver: {exc}")


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
            wait=tenacity.wait_exponential(multiplier=0.1, max=self.max_wait),
            before_sleep=tenacity.before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        try:
            return retrying(call)
        except DriverError:
            raise
        except Exception as exc:
            raise translate(exc) from exc
