"""Backend name → driver class, registered as entry points (group ``cloudsvc.drivers``) and type-checked
when loaded, so a deployment can add a driver without touching cloudsvc."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from provisioners.base import Driver, InvalidSettings, StatefulDriver, StateStore

GROUP = "cloudsvc.drivers"


@cache
def driver_class(backend: str) -> type[Driver]:
    found = [ep for ep in entry_points(group=GROUP) if ep.name == backend]
    if not found:
        raise InvalidSettings(f"no driver is installed for backend {backend!r}", field="backend")
    cls = found[0].load()
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise TypeError(f"entry point {found[0].value} is not a provisioners.base.Driver")
    return cls


def load(backend: str, settings: Mapping[str, Any], *, store: StateStore) -> Driver:
    """A driver for a zone; ``store`` goes only to drivers that keep state of their own (the simulator)."""
    cls = driver_class(backend)
    return cls(settings, store=store) if issubclass(cls, StatefulDriver) else cls(settings)


def validate(backend: str, settings: Mapping[str, Any]) -> None:
    """Raise InvalidSettings if a zone with these settings could not have a driver (nothing is contacted)."""
    from provisioners.simulator import MemoryStore  # only to build a stateful driver for the check

    load(backend, settings, store=MemoryStore())
