"""Wake-ups for idle workers: a request that becomes work is announced, and the workers claim it at once
instead of at their next idle poll.

On PostgreSQL a trigger (migration 0015) notifies the ``cloudsvc_work`` channel when a request is approved
or asked to be decommissioned, whichever process made the change. One connection per database and
process listens while any worker of the process runs, and nudges them all; their claims (SKIP LOCKED)
share the work out. The idle poll stays as the backstop: a notification missed while the listener
reconnects costs at most ``idle_sleep``. SQLite has no notifications: the embedded default polls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import psycopg
from sqlalchemy.engine import make_url

from cloudsvc.db import Database

log = logging.getLogger(__name__)

CHANNEL = "cloudsvc_work"
LISTEN_SLICE = 0.5  # seconds: how soon the listener notices it has no one left to nudge
RECONNECT_MAX = 30.0  # seconds between attempts to listen again, at most


class Nudge:
    """What a worker waits on beside its moving requests: ``pending()`` is a Future that the next
    ``set()`` (a wake-up, or the worker being stopped) completes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._future: Future[None] = Future()

    def set(self) -> None:
        with self._lock:
            if not self._future.done():
                self._future.set_result(None)

    def pending(self) -> Future[None]:
        """The Future for wake-ups from now on. Take it before claiming: one that arrives during the claim
        completes it, so the claim after the wait sees what was announced."""
        with self._lock:
            if self._future.done():
                self._future = Future()
            return self._future


class Listener:
    """The process's one listening connection to a database, up while anyone subscribes."""

    def __init__(self, database: Database) -> None:
        self._conninfo = (
            None
            if database.is_sqlite
            else make_url(database.url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None

    def subscribe(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` on every announcement (from the listener's thread) until the returned function
        is called. Without notifications (SQLite) it is never called."""
        with self._lock:
            self._subscribers.append(wake)
            if self._conninfo is not None and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._listen, name="cloudsvc-wakeups", daemon=True)
                self._thread.start()

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.remove(wake)

        return unsubscribe

    def _wanted(self) -> bool:
        with self._lock:
            if not self._subscribers:
                self._thread = None  # a later subscriber starts a new one
                return False
            return True

    def _wake_all(self) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for wake in subscribers:
            wake()

    def _listen(self) -> None:
        assert self._conninfo is not None
        pause = 1.0
        while self._wanted():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    pause = 1.0
                    self._wake_all()  # whatever was announced while no one listened
                    while self._wanted():
                        for _ in conn.notifies(timeout=LISTEN_SLICE, stop_after=1):
                            self._wake_all()
            except psycopg.Error as exc:
                log.warning("listening for work failed (%s); the workers poll until it is back", exc)
                time.sleep(pause)
                pause = min(2 * pause, RECONNECT_MAX)


def listener(database: Database) -> Listener:
    """The process's listener for ``database``."""
    return database.companion(Listener)
