"""Every statement the console sends to the warehouse, counted and classified by what it costs in Snowflake.

A Snowpark query listener on each of the console's sessions (``Warehouse`` attaches it) sees every statement,
the client's describe round trips included. Each is one of:

- ``metadata``: answered by Snowflake's cloud services layer without a running warehouse: ``SHOW`` and
  ``DESCRIBE`` commands and the client's describe round trips (Snowflake documents ``SHOW`` as a metadata
  operation; describes compile a query without executing it);
- ``result_cache``: a query whose text is identical to one this process ran while no table it reads has
  changed since (Snowflake's result cache answers it for 24 hours without a warehouse). Estimated here from the
  change markers the console reads; a repeat across processes, which Snowflake would also serve from the cache,
  is counted as ``compute``, so the estimate errs towards the higher bill;
- ``compute``: everything else: it resumes the warehouse if it is suspended.

Rows are kept in memory and written to the state DB's ``warehouse_statements`` by ``flush`` (the Audit page and
``bench/bench_warehouse_cost.py`` read them); a state DB that cannot be written keeps them for the next flush,
up to ``MAX_PENDING``. Rows older than ``RETENTION_DAYS`` are deleted as flushes go.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from console.store import warehouse_statements

logger = logging.getLogger(__name__)

METADATA, RESULT_CACHE, COMPUTE = "metadata", "result_cache", "compute"
KINDS = (COMPUTE, RESULT_CACHE, METADATA)
MAX_PENDING = 10_000
RETENTION_DAYS = 35  # the state DB keeps this many days of statements (about 10,000 rows a day)
PRUNE_EVERY = dt.timedelta(hours=6)
CACHE_HOURS = 24  # Snowflake keeps a persisted result for 24 hours after its last use
_METADATA = re.compile(r"^\s*(show|desc|describe|use|alter\s+session)\b", re.IGNORECASE)
# Functions evaluated at execution time: a query that uses one is never answered from the result cache.
_VOLATILE = re.compile(r"\b(current_timestamp|current_time|current_date|sysdate|getdate|localtimestamp|"
                       r"random|uuid_string|seq[1248]|normal|uniform)\b", re.IGNORECASE)
_TABLE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_$]*)\.([A-Za-z_][A-Za-z0-9_$]*)\.([A-Za-z_][A-Za-z0-9_$]*)\b")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Meter:
    """Counts and classifies one process's statements (``process``: ui, worker or cli)."""

    def __init__(self, process: str, now: Callable[[], dt.datetime] = _utcnow) -> None:
        self.process = process
        self.now = now
        self.totals: Counter[str] = Counter()
        self._pending: list[dict[str, Any]] = []
        self._seen: dict[str, tuple[str, dt.datetime]] = {}  # query text digest -> (data version, last run)
        self._watched: set[str] = set()  # upper-case table names whose change markers the console reads
        self._version = ""  # the markers' value at the last read, one string for all watched tables
        self._lock = threading.Lock()
        self._local = threading.local()  # a thread's statements attributed to another process (``attributed``)
        self._pruned: dt.datetime | None = None

    @contextmanager
    def attributed(self, process: str) -> Iterator[None]:
        """Count this thread's statements in the block as ``process``'s: the embedded stack's pipeline (the local
        engine's tasks, the demo's Genesys simulator) runs in the console's processes but is not the console's
        reading; ``cost.usage`` leaves ``pipeline`` out of the console's figures."""
        saved = getattr(self._local, "process", None)
        self._local.process = process
        try:
            yield
        finally:
            self._local.process = saved

    def data_version(self, markers: dict[str, Any]) -> None:
        """The change markers just read (table name -> marker): repeats of a query over these tables are
        result-cache hits until one of them moves."""
        with self._lock:
            self._watched = {name.upper() for name in markers}
            self._version = repr(sorted((k.upper(), repr(v)) for k, v in markers.items()))

    def classify(self, sql: str, is_describe: bool) -> str:
        if is_describe or _METADATA.match(sql):
            return METADATA
        tables = {".".join(parts).upper() for parts in _TABLE.findall(sql)}
        digest = hashlib.sha256(sql.encode()).hexdigest()
        at = self.now()
        cacheable = bool(tables) and tables <= self._watched and not _VOLATILE.search(sql)
        kept = self._seen.get(digest)
        if cacheable:
            self._seen[digest] = (self._version, at)
            if kept and kept[0] == self._version and at - kept[1] < dt.timedelta(hours=CACHE_HOURS):
                return RESULT_CACHE
        return COMPUTE

    def record(self, sql: str, is_describe: bool) -> None:
        with self._lock:
            kind = self.classify(sql, is_describe)
            if not getattr(self._local, "process", None):  # the totals are this process's own statements
                self.totals[kind] += 1
            if len(self._pending) < MAX_PENDING:
                process = getattr(self._local, "process", None) or self.process
                self._pending.append({"at": self.now(), "process": process, "kind": kind,
                                      "statement": sql[:200]})

    def listener(self) -> Any:
        """A Snowpark query listener that records into this meter (describe round trips included)."""
        # on demand, like every Snowpark import (a second to load)
        from snowflake.snowpark.query_history import QueryListener

        meter = self

        class _Listener(QueryListener):
            include_describe = True

            def _notify(self, query_record: Any, **kwargs: Any) -> None:
                meter.record(query_record.sql_text or "", bool(query_record.is_describe))

        return _Listener()

    def flush(self, store: Any) -> int:
        """Write the statements recorded since the last flush to ``warehouse_statements``; how many."""
        with self._lock:
            rows, self._pending = self._pending, []
        if not rows:
            return 0
        try:
            with store.begin() as conn:
                conn.execute(sa.insert(warehouse_statements), rows)
                now = _utcnow()
                if self._pruned is None or now - self._pruned > PRUNE_EVERY:
                    self._pruned = now
                    conn.execute(sa.delete(warehouse_statements).where(
                        warehouse_statements.c.at < now - dt.timedelta(days=RETENTION_DAYS)))
        except Exception as exc:  # the state DB is down: keep them for the next flush (bounded)
            logger.warning("warehouse statement counts not written (%s); kept for the next flush", type(exc).__name__)
            with self._lock:
                self._pending = (rows + self._pending)[:MAX_PENDING]
            return 0
        return len(rows)
