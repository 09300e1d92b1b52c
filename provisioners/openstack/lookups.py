"""Lookups remembered for a while and made once at a time: movers that start side by side wait for the one
lookup under way instead of each asking the cloud, calls that queue with the servers' own on a busy API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """Values by key, remembered for ``fresh_seconds`` after being looked up; one lookup per key at a time."""

    def __init__(self, fresh_seconds: float) -> None:
        self.fresh_seconds = fresh_seconds
        self._lock = threading.Lock()
        self._known: dict[K, tuple[float, V]] = {}
        self._looking: dict[K, threading.Lock] = {}

    def _remembered(self, key: K) -> V | None:
        with self._lock:
            known = self._known.get(key)
        if known is not None and time.monotonic() - known[0] < self.fresh_seconds:
            return known[1]
        return None

    def get(self, key: K, look: Callable[[], V], *, fresh: bool = False) -> tuple[V, bool]:
        """The value for ``key``, and whether it was looked up just now (rather than remembered): a caller
        whose use of a remembered value is refused knows to ask again with ``fresh``."""
        if not fresh and (value := self._remembered(key)) is not None:
            return value, False
        with self._lock:
            looking = self._looking.setdefault(key, threading.Lock())
        began = time.monotonic()
        with looking:
            with self._lock:
                known = self._known.get(key)
            if known is not None and known[0] >= began:  # another looked it up while this one waited
                return known[1], True
            value = look()
            with self._lock:
                self._known[key] = (time.monotonic(), value)
        return value, True

    def forget(self, key: K) -> None:
        with self._lock:
            self._known.pop(key, None)

    def remember(self, key: K, value: V) -> None:
        """``value`` as if just looked up (what making it answered, say)."""
        with self._lock:
            self._known[key] = (time.monotonic(), value)
