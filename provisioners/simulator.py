"""The simulator: NOT A CLOUD. A driver that pretends, for the embedded default, demos and tests.

Servers report usage like a hypervisor's diagnostics would: half their memory in use, and CPU time that
grows by one second per vCPU each time it is asked.

It keeps its "objects" in a StateStore (cloudsvc gives it a database table, so they survive restarts
like a real cloud's would), follows the same contract as the real drivers, and can be told to misbehave:

    build_steps      observations a new object spends ``building`` before it is ``ready`` (default 0)
    unreachable      every call raises ZoneUnavailable (a cloud that is down or refuses credentials)
    fail_images      images whose servers end ``failed`` (like a Nova ERROR)
    refuse_images    images refused at create with PermanentError (like a 400 for an unknown image)
    host_keys        SSH host public keys ("<type> <base64>") it reports for every server, as a cloud would
                     from the console log (default: none reported)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from provisioners.base import (
    InvalidSettings,
    Observed,
    PermanentError,
    ResourceKey,
    ResourceUsage,
    ServerSpec,
    Spec,
    State,
    StatefulDriver,
    StateStore,
    Tenancy,
    TenancyRef,
    ZoneUnavailable,
)

_KNOWN = {"build_steps", "unreachable", "fail_images", "refuse_images", "host_keys", "note"}


class SimulatorDriver(StatefulDriver):
    name: ClassVar[str] = "simulator"

    def __init__(self, settings: Mapping[str, Any], *, store: StateStore | None = None) -> None:
        unknown = set(settings) - _KNOWN
        if unknown:
            raise InvalidSettings(
                f"unknown simulator setting {sorted(unknown)[0]!r}", field=sorted(unknown)[0]
            )
        steps = settings.get("build_steps", 0)
        if not isinstance(steps, int) or isinstance(steps, bool) or not 0 <= steps <= 100:
            raise InvalidSettings("build_steps must be a whole number from 0 to 100", field="build_steps")
        for name in ("fail_images", "refuse_images"):
            value = settings.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidSettings(f"{name} must be a list of image names", field=name)
        keys = settings.get("host_keys", [])
        if not isinstance(keys, list) or not all(isinstance(k, str) and len(k.split()) == 2 for k in keys):
            raise InvalidSettings('host_keys must be a list of "<type> <base64>" strings', field="host_keys")
        if not isinstance(settings.get("unreachable", False), bool):
            raise InvalidSettings("unreachable must be true or false", field="unreachable")
        self.build_steps: int = steps
        self.unreachable: bool = settings.get("unreachable", False)
        self.fail_images: set[str] = set(settings.get("fail_images", []))
        self.refuse_images: set[str] = set(settings.get("refuse_images", []))
        self.reported_host_keys: tuple[str, ...] = tuple(keys)
        self.store = store if store is not None else MemoryStore()

    def check(self) -> None:
        if self.unreachable:
            raise ZoneUnavailable("the simulated zone is unreachable (setting 'unreachable')")

    def ensure_tenancy(self, tenancy: Tenancy) -> TenancyRef:
        self.check()
        key = f"tenancy/{tenancy.department_code}"
        record = {"department": tenancy.department_code, "limits": dict(tenancy.limits)}
        self.store.put(key, record)
        return TenancyRef(backend_id=f"sim-project-{tenancy.department_code}", details=record)

    def observe(self, key: ResourceKey, tenancy: Tenancy) -> Observed:
        self.check()
        record = self.store.get(key.name)
        if record is None:
            return Observed.absent()
        if record["state"] == State.building:
            record["steps_left"] -= 1
            if record["steps_left"] <= 0:
                record["state"] = State.failed if record.get("doomed") else State.ready
            self.store.put(key.name, record)
        return _observed(record)

    def create(self, key: ResourceKey, spec: Spec, tenancy: Tenancy, *, first: bool = False) -> Observed:
        self.check()
        record = self.store.get(key.name)
        if record is not None:
            return _observed(record)
        image = spec.image if isinstance(spec, ServerSpec) else None
        if image in self.refuse_images:
            raise PermanentError(f"image {image!r} not found")
        doomed = image in self.fail_images
        record = {
            "id": f"sim-{key.kind}-{key.request_id[:8]}-{key.index}",
            "kind": key.kind.value,
            "department": tenancy.department_code,
            "state": State.building if self.build_steps or doomed else State.ready,
            "steps_left": max(self.build_steps, 1),
            "doomed": doomed,
            "addresses": [f"10.0.{key.index // 250}.{key.index % 250 + 2}"] if key.kind == "server" else [],
        }
        if isinstance(spec, ServerSpec):
            record.update(vcpus=spec.vcpus, ram_mb=spec.ram_mb, cpu_seconds=0.0)
        self.store.put(key.name, record)
        return _observed(record)

    def delete(self, key: ResourceKey, tenancy: Tenancy) -> None:
        self.check()
        self.store.delete(key.name)

    def host_keys(self, key: ResourceKey, tenancy: Tenancy) -> tuple[str, ...] | None:
        self.check()
        record = self.store.get(key.name)
        if record is None or key.kind != "server" or not self.reported_host_keys:
            return None
        return self.reported_host_keys

    def usage(self, key: ResourceKey, tenancy: Tenancy) -> ResourceUsage | None:
        self.check()
        record = self.store.get(key.name)
        if record is None or record["state"] != State.ready or "ram_mb" not in record:
            return None
        record["cpu_seconds"] += float(record["vcpus"])
        self.store.put(key.name, record)
        return ResourceUsage(cpu_seconds=record["cpu_seconds"], memory_used_bytes=record["ram_mb"] * 2**19)


def _observed(record: Mapping[str, Any]) -> Observed:
    message = "simulated failure (image listed in fail_images)" if record["state"] == State.failed else None
    return Observed(
        state=State(record["state"]),
        backend_id=record["id"],
        addresses=tuple(record["addresses"]),
        message=message,
        details={"simulated": True},
    )


class MemoryStore:
    """A StateStore in a dict, for unit tests of the driver itself."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._data.get(key)
        return dict(value) if value is not None else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._data[key] = dict(value)

    def delete(self, key: str) -> None:
        self._data.pop(key, None)
