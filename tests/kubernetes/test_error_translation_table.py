"""The error table of provisioners/kubernetes/errors.py, one vendor error at a time."""

from __future__ import annotations

import json

import pytest
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from provisioners.base import DriverError, PermanentError, TemporaryError, ZoneUnavailable
from provisioners.kubernetes.errors import Edge, is_transient, translate


def api_error(status: int, reason: str = "", message: str = "") -> ApiException:
    exc = ApiException(status=status, reason=reason or "Reason")
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message}
    exc.body = json.dumps(body)
    return exc


CONNECTION_REFUSED = urllib3.exceptions.MaxRetryError(
    None,  # type: ignore[arg-type]
    "/version",
    urllib3.exceptions.NewConnectionError(None, "Connection refused"),  # type: ignore[arg-type]
)


@pytest.mark.parametrize(
    ("error", "expected", "transient"),
    [
        (api_error(401, "Unauthorized"), ZoneUnavailable, False),
        (
            api_error(403, "Forbidden", 'persistentvolumeclaims "x" is forbidden: exceeded quota: q'),
            PermanentError,
            False,
        ),
        (
            api_error(
                403, "Forbidden", "unable to create new content in namespace n because it is being terminated"
            ),
            TemporaryError,
            True,
        ),
        (api_error(404, "NotFound"), PermanentError, False),
        (api_error(409, "Conflict"), TemporaryError, True),
        (api_error(422, "Invalid"), PermanentError, False),
        (api_error(429, "TooManyRequests"), TemporaryError, True),
        (api_error(500, "InternalError"), TemporaryError, True),
        (api_error(503, "ServiceUnavailable"), TemporaryError, True),
        (ApiException(status=0, reason="SSLError"), PermanentError, False),
        (CONNECTION_REFUSED, ZoneUnavailable, True),
        (urllib3.exceptions.ProtocolError("Connection reset by peer"), TemporaryError, True),
        (urllib3.exceptions.ReadTimeoutError(None, "/api", "timed out"), TemporaryError, True),  # type: ignore[arg-type]
        (ConfigException("Service host/port is not set."), ZoneUnavailable, False),
        (KeyError("a bug"), DriverError, False),
    ],
)
def test_each_vendor_error_has_its_place(
    error: Exception, expected: type[DriverError], transient: bool
) -> None:
    translated = translate(error)
    assert type(translated) is expected
    assert is_transient(error) is transient


def test_the_message_is_the_api_servers() -> None:
    message = 'persistentvolumeclaims "x" is forbidden: exceeded quota: q, requested: requests.storage=1Gi'
    assert str(translate(api_error(403, "Forbidden", message))) == f"{message} (HTTP 403 Forbidden)"


def test_the_edge_retries_then_translates_from_the_vendor_error() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise api_error(503, "ServiceUnavailable")
        return "ok"

    assert Edge(attempts=4, max_seconds=5, max_wait=0.01).run(flaky) == "ok"
    assert len(calls) == 3

    def broken() -> None:
        raise api_error(422, "Invalid", "bad")

    with pytest.raises(PermanentError) as raised:
        Edge(attempts=4, max_seconds=5, max_wait=0.01).run(broken)
    assert isinstance(raised.value.__cause__, ApiException)
