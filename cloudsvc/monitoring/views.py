"""``GET /metrics`` for Prometheus: the text format, or OpenMetrics when the Accept header asks for it."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client.registry import CollectorRegistry

from cloudsvc.api.deps import SettingsDep
from cloudsvc.errors import NotAuthenticated
from cloudsvc.monitoring.exposition import encode

router = APIRouter(tags=["monitoring"])
_bearer = HTTPBearer(auto_error=False, description="CLOUDSVC_METRICS_TOKEN, when one is set")


@router.get(
    "/metrics",
    name="monitoring.metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}, "application/openmetrics-text": {}}}},
)
def metrics(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Response:
    """Utilisation, quota, request and worker figures. Needs the metrics token if one is set (it is not
    an API principal's token: Prometheus is given this one and nothing else)."""
    if settings.metrics_token is not None:
        expected = settings.metrics_token.get_secret_value().encode()
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise NotAuthenticated("send 'Authorization: Bearer <CLOUDSVC_METRICS_TOKEN>'")
    registry: CollectorRegistry = request.app.state.metrics_registry
    body, content_type = encode(registry.collect(), request.headers.get("accept", ""))
    return Response(body, media_type=content_type)
