"""The contract every backend driver implements, and the errors it may raise.

A driver turns a department's approved request into things on one zone's cloud and takes them away again.
Every call is idempotent and keyed, so the reconciling worker can crash and call again at any point:

- ``check()``: can the zone be reached with its credentials? Raises ``ZoneUnavailable`` if not.
- ``ensure_tenancy(tenancy)``: the department's isolated place in the zone (an OpenStack project with its
  network and quotas; a Kubernetes namespace with its ResourceQuota …), created or brought up to date.
- ``observe(key)``: what the backend has for one resource, changing nothing (``Observed.absent`` if none).
- ``create(key, spec, tenancy)``: make the resource if it is absent, else return what is there. Never makes
  a second one for the same key: the key is written into the backend object (name, tag or label).
- ``delete(key)``: remove it if present; absent is success.
- ``usage(key, tenancy)`` (optional): what the resource actually uses, as the backend measures it
  (``ResourceUsage``), or None where the backend does not say (the default). Read-only, like observe.
- ``host_keys(key, tenancy)`` (optional): a server's SSH host public keys (``"<type> <base64>"``) as the
  backend learnt them out of band (a console log that cloud-init wrote them to …), or None where it does
  not say (the default) or has not yet. Read-only. The post-provision baseline pins what this returns;
  without it, the keys the server shows at first contact.

Errors (translated from the vendor's at the driver's edge, ``raise … from exc``):

    DriverError
    ├── TemporaryError      try again after a delay (5xx, timeouts, resets, the zone down for now)
    │   └── ZoneUnavailable the zone cannot be reached or refuses its credentials
    └── PermanentError      this will not work as asked (bad image, over the backend's quota …)
        └── InvalidSettings a zone's settings are wrong (refused when the zone is registered)

No other exception may escape a driver.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol


class DriverError(Exception):
    """Base of everything a driver raises."""


class TemporaryError(DriverError):
    """Try again later: the same call may well succeed."""


class ZoneUnavailable(TemporaryError):
    """The zone cannot be reached, or refuses its credentials."""


class PermanentError(DriverError):
    """Will not succeed as asked; the message says why, in the backend's words."""


class InvalidSettings(PermanentError):
    """A zone's settings are wrong. ``field`` names the setting."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class Kind(StrEnum):
    server = "server"
    volume = "volume"
    bandwidth = "bandwidth"


@dataclass(frozen=True)
class ResourceKey:
    """One backend object of a request: requests for ``count`` servers have indexes 0 … count-1."""

    request_id: str
    index: int
    kind: Kind

    @property
    def name(self) -> str:
        """The name (and tag/label value) that finds this object again after a crash."""
        return f"cs-{self.request_id}-{self.index}"


@dataclass(frozen=True)
class ServerSpec:
    vcpus: int
    ram_mb: int
    disk_gb: int
    image: str


@dataclass(frozen=True)
class VolumeSpec:
    size_gb: int
    volume_type: str


@dataclass(frozen=True)
class BandwidthSpec:
    mbps: int
    direction: str  # ingress | egress | both


Spec = ServerSpec | VolumeSpec | BandwidthSpec


@dataclass(frozen=True)
class Tenancy:
    """A department as a zone sees it."""

    department_code: str
    department_name: str
    level: str
    classification: str | None
    mlps_level: int | None
    limits: Mapping[str, int | None]  # cloudsvc quota limits by class; None: no limit of its own


@dataclass(frozen=True)
class TenancyRef:
    """Where the department lives in the zone (project id, namespace …), for the record."""

    backend_id: str
    details: Mapping[str, Any] = field(default_factory=dict)


class State(StrEnum):
    absent = "absent"
    building = "building"  # exists, not ready yet
    ready = "ready"  # up and usable (server ACTIVE, volume available, limit applied)
    failed = "failed"  # the backend says it broke; ``message`` says how
    deleting = "deleting"


@dataclass(frozen=True)
class Observed:
    state: State
    backend_id: str | None = None
    addresses: tuple[str, ...] = ()
    message: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def absent(cls) -> Observed:
        return cls(State.absent)


@dataclass(frozen=True)
class ResourceUsage:
    """What a resource uses, in base units; None where the backend does not report that figure."""

    cpu_seconds: float | None = None  # cumulative CPU time
    memory_used_bytes: int | None = None


class StateStore(Protocol):
    """Somewhere a driver with no cloud behind it (the simulator) keeps its objects between processes."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...

    def delete(self, key: str) -> None: ...


class Driver(abc.ABC):
    """A zone's backend. Built from the zone's settings (validated in ``__init__``: InvalidSettings)."""

    name: ClassVar[str]

    @abc.abstractmethod
    def __init__(self, settings: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def check(self) -> None: ...

    @abc.abstractmethod
    def ensure_tenancy(self, tenancy: Tenancy) -> TenancyRef: ...

    @abc.abstractmethod
    def observe(self, key: ResourceKey, tenancy: Tenancy) -> Observed: ...

    @abc.abstractmethod
    def create(self, key: ResourceKey, spec: Spec, tenancy: Tenancy, *, first: bool = False) -> Observed:
        """Make the resource unless it exists (then: as it is). ``first``: the caller has durably recorded
        that no attempt to make ``key`` was ever begun before this one, so a driver may skip looking for
        it; a driver that retries inside the call must look on every attempt after the first."""

    @abc.abstractmethod
    def delete(self, key: ResourceKey, tenancy: Tenancy) -> None: ...

    def usage(self, key: ResourceKey, tenancy: Tenancy) -> ResourceUsage | None:
        """Actual use as the backend measures it; None if it does not (or the resource is absent)."""
        return None

    def host_keys(self, key: ResourceKey, tenancy: Tenancy) -> tuple[str, ...] | None:
        """The server's SSH host public keys as the backend reports them; None if it does not (yet)."""
        return None


class StatefulDriver(Driver):
    """A driver with no cloud behind it, which keeps its objects in a StateStore it is given."""

    @abc.abstractmethod
    def __init__(self, settings: Mapping[str, Any], *, store: StateStore | None = None) -> None: ...
