"""Warehouse access for every process: a small pool of Snowpark sessions, lent one thread at a time.

fakesnow cannot serve one session from two threads at once (Snowflake can, but one code path serves
both), and Streamlit runs each browser tab's script in its own thread: so a session is borrowed for a
unit of work and returned, never shared while in use.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from console.adapters.meter import Meter
from console.errors import WarehouseUnavailable

logger = logging.getLogger(__name__)


class Warehouse:
    def __init__(self, factory: Callable[[], Any], label: str, max_sessions: int = 8, meter: Meter | None = None,
                 store: Any = None) -> None:
        self.factory = factory
        self.label = label  # "embedded warehouse (127.0.0.1:47321)" or "Snowflake account …"
        self.max_sessions = max_sessions
        # Counts every statement of every session (console/adapters/meter.py), written to ``store`` after each
        # unit of work.
        self.meter = meter or Meter("cli")
        self.store = store
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._count = 0
        self._lock = threading.Lock()

    @contextmanager
    def session(self, timeout: float = 60.0) -> Iterator[Any]:
        """Borrow a session; a session whose use raised a connection error is dropped, not returned."""
        session = self._borrow(timeout)
        healthy = True
        try:
            yield session
        except WarehouseUnavailable:
            healthy = False
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                healthy = False
                raise WarehouseUnavailable(f"Lost the connection to the {self.label}: {exc}") from None
            raise
        finally:
            if healthy:
                self._idle.put(session)
            else:
                with self._lock:
                    self._count -= 1
            if self.store is not None:
                self.meter.flush(self.store)

    def _borrow(self, timeout: float) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            can_open = self._count < self.max_sessions
            if can_open:
                self._count += 1
        if can_open:
            try:
                session = self.factory()
                # Snowpark's own hook (``Session.query_history`` adds its recorder the same way), kept for the
                # session's life: every statement, describes included, reaches the meter. (A test's stand-in
                # for a session has no connection to listen on.)
                listen = getattr(getattr(session, "_conn", None), "add_query_listener", None)
                if listen is not None:
                    listen(self.meter.listener())
                return session
            except Exception:
                with self._lock:
                    self._count -= 1
                raise
        try:
            return self._idle.get(timeout=timeout)
        except queue.Empty:
            raise WarehouseUnavailable(f"All {self.max_sessions} sessions to the {self.label} are busy.",
                                       "Try again in a moment.") from None

    def change_markers(self, session: Any, names: list[str]) -> dict[str, str | None]:
        """Each table's change marker, by its ``DB.SCHEMA.TABLE`` name as given; None for a missing table.

        One ``SHOW TABLES IN DATABASE`` per database: Snowflake answers it from its metadata without a running
        warehouse. A marker is the table's ``created_on``, ``rows`` and ``bytes``, which move with every write
        (and with a re-creation). The meter learns them, to tell a result-cache hit from a query that computes.
        """
        found: dict[str, str] = {}
        for database in sorted({name.split(".")[0].upper() for name in names}):
            for row in session.sql(f"SHOW TABLES IN DATABASE {database}").collect():
                key = f"{row['database_name']}.{row['schema_name']}.{row['name']}".upper()
                found[key] = f"{row['created_on']}|{row['rows']}|{row['bytes']}"
        markers = {name: found.get(name.upper()) for name in names}
        self.meter.data_version(markers)
        return markers

    def reset(self) -> None:
        """Forget idle sessions (after the warehouse restarted)."""
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                self._count -= 1


def _is_connection_error(exc: Exception) -> bool:
    name = type(exc).__name__
    text = str(exc).lower()
    return name in ("OperationalError", "InterfaceError", "ConnectionError") or ("connection" in text and (
        "refused" in text or "reset" in text or "closed" in text))
