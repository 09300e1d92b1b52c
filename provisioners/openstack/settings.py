"""A zone's OpenStack settings: checked field by field, then turned into an openstacksdk cloud config."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from openstack.config import OpenStackConfig
from openstack.config.cloud_region import CloudRegion

from provisioners.base import InvalidSettings

AUTH_FIELDS = (
    "auth_url",
    "username",
    "password",
    "project_name",
    "user_domain_name",
    "project_domain_name",
)
DEFAULT_CIDR = ipaddress.IPv4Network("10.128.0.0/12")
KNOWN = {
    "cloud",
    "clouds_yaml",
    "auth",
    "region_name",
    "domain",
    "network_cidr",
    "subnet_prefix_length",
    "project_role",
    "volume_types",
    "timeout",
    "retry_attempts",
    "retry_max_seconds",
}


@dataclass(frozen=True)
class OpenStackSettings:
    cloud: str | None
    clouds_yaml: str | None
    auth: Mapping[str, str] | None
    region_name: str | None = None
    domain: str = "Default"  # where department projects live
    network_cidr: ipaddress.IPv4Network = DEFAULT_CIDR  # the pool department subnets are carved from
    subnet_prefix_length: int = 24
    project_role: str = "member"  # what the driver's user needs on a department project to act in it
    # cloudsvc volume type → Cinder volume type; None: the cloud's default type
    volume_types: Mapping[str, str | None] = field(default_factory=lambda: {"standard": None})
    timeout: float = 30.0  # seconds per API call
    retry_attempts: int = 4
    retry_max_seconds: float = 20.0  # total time spent retrying one call

    @property
    def auth_url(self) -> str | None:
        return self.auth["auth_url"] if self.auth else None


def _text(raw: Mapping[str, Any], name: str, *, label: str | None = None) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidSettings(f"{label or name} must be a non-empty string", field=label or name)
    return value


def _number(raw: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidSettings(f"{name} must be a number from {low} to {high}", field=name)
    return float(value)


def _auth(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise InvalidSettings("auth must be a mapping of " + ", ".join(AUTH_FIELDS), field="auth")
    for key in raw:
        if key not in AUTH_FIELDS:
            raise InvalidSettings(f"unknown auth setting {key!r}", field=f"auth.{key}")
    auth: dict[str, str] = {}
    for name in AUTH_FIELDS:
        value = _text(raw, name, label=f"auth.{name}")
        if value is None:
            raise InvalidSettings(f"auth.{name} is required", field=f"auth.{name}")
        auth[name] = value
    url = urlparse(auth["auth_url"])
    if url.scheme not in ("http", "https") or not url.hostname:
        raise InvalidSettings("auth.auth_url must be an http(s) URL", field="auth.auth_url")
    return auth


def _network(raw: Mapping[str, Any]) -> tuple[ipaddress.IPv4Network, int]:
    try:
        cidr = ipaddress.IPv4Network(raw.get("network_cidr", DEFAULT_CIDR))
    except (ValueError, TypeError) as exc:
        raise InvalidSettings(f"network_cidr is not an IPv4 network: {exc}", field="network_cidr") from exc
    length = raw.get("subnet_prefix_length", 24)
    if isinstance(length, bool) or not isinstance(length, int) or not cidr.prefixlen < length <= 29:
        raise InvalidSettings(
            f"subnet_prefix_length must be an integer above {cidr.prefixlen} (network_cidr's) and at most 29",
            field="subnet_prefix_length",
        )
    return cidr, length


def _volume_types(raw: Mapping[str, Any]) -> dict[str, str | None]:
    value = raw.get("volume_types", {"standard": None})
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and (v is None or (isinstance(v, str) and v)) for k, v in value.items()
    ):
        raise InvalidSettings(
            "volume_types must map cloudsvc volume types to Cinder type names (or null for the default)",
            field="volume_types",
        )
    return dict(value)


def parse_settings(raw: Mapping[str, Any]) -> OpenStackSettings:
    """Validate ``raw``; ``InvalidSettings`` names the first bad field."""
    if not isinstance(raw, Mapping):
        raise InvalidSettings("settings must be a mapping", field="settings")
    for key in raw:
        if key not in KNOWN:
            raise InvalidSettings(f"unknown setting {key!r}", field=str(key))
    cloud = _text(raw, "cloud")
    clouds_yaml = _text(raw, "clouds_yaml")
    if cloud is not None and raw.get("auth") is not None:
        raise InvalidSettings("give either cloud or auth, not both", field="auth")
    if cloud is None and raw.get("auth") is None:
        raise InvalidSettings("either cloud (a clouds.yaml name) or auth is required", field="cloud")
    if clouds_yaml is not None:
        if cloud is None:
            raise InvalidSettings("clouds_yaml only goes with cloud", field="clouds_yaml")
        if not os.path.isfile(clouds_yaml):
            raise InvalidSettings(f"clouds_yaml {clouds_yaml!r} is not a readable file", field="clouds_yaml")
    auth = _auth(raw["auth"]) if cloud is None else None
    cidr, length = _network(raw)
    return OpenStackSettings(
        cloud=cloud,
        clouds_yaml=clouds_yaml,
        auth=auth,
        region_name=_text(raw, "region_name"),
        domain=_text(raw, "domain") or "Default",
        network_cidr=cidr,
        subnet_prefix_length=length,
        project_role=_text(raw, "project_role") or "member",
        volume_types=_volume_types(raw),
        timeout=_number(raw, "timeout", 30.0, 0.5, 600),
        retry_attempts=int(_number(raw, "retry_attempts", 4, 1, 20)),
        retry_max_seconds=_number(raw, "retry_max_seconds", 20.0, 0, 600),
    )


def cloud_region(settings: OpenStackSettings) -> CloudRegion:
    """The openstacksdk config for the zone. Local only: nothing is contacted yet.

    Environment variables (OS_CLOUD, OS_PASSWORD …) are ignored on purpose: a zone is exactly what its
    settings say, whatever the worker's environment holds.
    """
    extra: dict[str, Any] = {"api_timeout": settings.timeout}
    if settings.region_name:
        extra["region_name"] = settings.region_name
    try:
        if settings.cloud is not None:
            files = [settings.clouds_yaml] if settings.clouds_yaml else None
            config = OpenStackConfig(config_files=files, load_envvars=False)
            return config.get_one(cloud=settings.cloud, **extra)
        config = OpenStackConfig(load_yaml_config=False, load_envvars=False)
        return config.get_one(
            auth_type="password", auth=dict(settings.auth or {}), identity_api_version="3", **extra
        )
    except Exception as exc:  # a bad clouds.yaml can raise anything from YAML errors to KeyError
        name = "cloud" if settings.cloud is not None else "auth"
        if "region" in str(exc).lower():
            name = "region_name"
        raise InvalidSettings(f"{name}: {exc}", field=name) from exc
