"""The status pages' reads, cached with a short TTL and shared by every session of the server.

``st.cache_data`` is process-wide: twenty people watching Home every 30 s cause the same engine and
warehouse reads as one. Each function takes the adapter set as ``_adapters`` (not hashed) and the stack's
data directory as ``stack`` (hashed), so two stacks in one process (tests) never share entries. After a
person's action ``after_action()`` drops the entries that action changes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

import streamlit as st

from console import alerts, cost, facts, notify, runbook
from console.adapters.protocols import Adapters
from console.facts import DayReads, WorkerStatus, keep_last_known, read_day, read_history, worker_status
from console.model import Run
from console.status import DayStatus, day_status

logger = logging.getLogger(__name__)

DAY_TTL = 30  # seconds: as long as Home's refresh period, so N viewers cause the reads of one (bench_pages)
HISTORY_TTL = 300  # durations of past days change only when a past day is rerun


def _stack(adapters: Adapters) -> str:
    return str(adapters.settings.data_dir)


@st.cache_data(ttl=DAY_TTL, show_spinner=False)
def _day_reads(_adapters: Adapters, stack: str, day: dt.date, _clock: Any) -> DayReads:
    """``_clock`` (not hashed) only stamps when the read was made."""
    return read_day(_adapters, day, _clock.now())


@st.cache_resource(show_spinner=False)
def _last_known(stack: str) -> dict[dt.date, DayReads]:
    return {}


@st.cache_data(ttl=HISTORY_TTL, show_spinner=False)
def _history(_adapters: Adapters, stack: str, day: dt.date) -> list[dict[str, Any]]:
    return read_history(_adapters, day)


@st.cache_data(ttl=DAY_TTL, show_spinner=False)
def _worker(_adapters: Adapters, stack: str) -> WorkerStatus:
    return worker_status(_adapters)


@st.cache_data(ttl=60, show_spinner=False)
def _runs(_adapters: Adapters, stack: str, start: dt.date, end: dt.date) -> list[Run]:
    return _adapters.engine.list_runs(start, end)


def day_reads(adapters: Adapters, day: dt.date, clock: Any) -> DayReads:
    """The day's reads; when the engine is unreachable, the last good one marked with its age."""
    return keep_last_known(_day_reads(adapters, _stack(adapters), day, clock), _last_known(_stack(adapters)))


def status(adapters: Adapters, day: dt.date, clock: Any) -> DayStatus:
    """The day's status at the clock's now, from cached reads (no I/O when the caches are warm)."""
    stack = _stack(adapters)
    return day_status(adapters, day, clock, reads=day_reads(adapters, day, clock),
                      history=_history(adapters, stack, day), worker=_worker(adapters, stack))


def history_rows(adapters: Adapters, day: dt.date) -> list[dict[str, Any]]:
    """Task durations of the business days before ``day`` (what the ETA uses)."""
    return _history(adapters, _stack(adapters), day)


def worker(adapters: Adapters) -> WorkerStatus:
    return _worker(adapters, _stack(adapters))


def runs(adapters: Adapters, start: dt.date, end: dt.date) -> list[Run]:
    """Runs of the business dates ``start``..``end`` (newest first), with their tasks."""
    return _runs(adapters, _stack(adapters), start, end)


@st.cache_data(ttl=DAY_TTL, show_spinner=False)
def _open_alerts(_adapters: Adapters, stack: str) -> int:
    return facts.open_alert_count(_adapters)


def open_alerts(adapters: Adapters) -> int:
    return _open_alerts(adapters, _stack(adapters))


@st.cache_data(ttl=DAY_TTL, show_spinner=False)
def _alert_rows(_adapters: Adapters, stack: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    return facts.alert_rows(_adapters, start, end)


def alert_rows(adapters: Adapters, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The alerts of the business dates ``start``..``end``, newest first."""
    return _alert_rows(adapters, _stack(adapters), start, end)


@st.cache_data(ttl=60, show_spinner=False)
def _evidence(_adapters: Adapters, stack: str, rule: str, day: dt.date) -> list[str]:
    return runbook.live_evidence(_adapters, rule, day)


def runbook_evidence(adapters: Adapters, rule: str, day: dt.date) -> list[str]:
    """The runbook's live evidence (warehouse and cluster reads), at most once a minute per alert type and day."""
    return _evidence(adapters, _stack(adapters), rule, day)


@st.cache_data(ttl=60, show_spinner=False)
def _warehouse_usage(_adapters: Adapters, stack: str, start: dt.datetime, _end: dt.datetime) -> dict[str, Any]:
    statements = facts.warehouse_statement_rows(_adapters, start, _end)
    return cost.usage(statements, _adapters.settings.auto_suspend_seconds)


def warehouse_usage(adapters: Adapters, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """The console's warehouse statements from ``start`` to ``end`` in figures (``cost.usage``), at most once a
    minute: a day holds about 10,000 rows, and each filter change on the Audit page reruns it."""
    return _warehouse_usage(adapters, _stack(adapters), start, end)


_WATCHED: dict[str, float] = {}


def watchdog(adapters: Adapters, status: DayStatus) -> None:
    """A worker that is down cannot alert about itself: Home does it, at most once a minute per server."""

    stack = _stack(adapters)
    if status.worker is None or status.worker.alive or time.monotonic() - _WATCHED.get(stack, -1e9) < 60:
        return
    _WATCHED[stack] = time.monotonic()
    alerts.run_cycle(adapters, status.now, status.business_date, status, only={"worker_down"}, deliver=False)
    _open_alerts.clear()
    _alert_rows.clear()
    # Delivery never holds a page: with SMTP down a viewer's Home waited minutes on it. One background send at
    # a time per server process, with a short budget.
    if _DELIVERING.acquire(blocking=False):
        threading.Thread(target=_deliver_in_background, args=(adapters,), daemon=True,
                         name="watchdog-delivery").start()


_DELIVERING = threading.Lock()


def _deliver_in_background(adapters: Adapters) -> None:
    try:
        notify.deliver(adapters, budget_seconds=15)
    except Exception:
        logger.exception("delivering the watchdog's alert failed")
    finally:
        _DELIVERING.release()


def after_action() -> None:
    """A person's action changes the day's run: the next read goes to the engine."""
    _day_reads.clear()
    _runs.clear()
    _open_alerts.clear()
    _alert_rows.clear()
