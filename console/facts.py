"""The facts of a business date: every read the judgments, pages, checks and alerts work from.

One place reads them: the engine's run and task history, the warehouse's lists, upload and export facts,
the state DB's checklist events, stored reconciliation and alerts, and the worker's heartbeat. ``read_day``
gathers a day's facts in one structure (``DayReads``), recording each failure as a message so a page stays
up; the pages cache it and share it across sessions (``console/ui/cached.py``). Nothing here judges.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from console import pipeline_data, volumes
from console.adapters.protocols import Adapters, StateStore
from console.clock import last_business_days
from console.errors import ConsoleError
from console.model import RESOLVED, ROW_COLUMNS, CheckResult, Reconciliation, Run
from console.settings import Settings
from console.store import (
    alerts,
    checklist_events,
    reconcile_rows,
    reconcile_runs,
    warehouse_statements,
    worker_heartbeat,
)

logger = logging.getLogger(__name__)

LIST_COLUMNS = ["LIST_NAME", "CHANNEL", "DESTINATION", "RECORDS", "GENERATED_AT"]
# The tables a day's warehouse facts come from: their change markers decide whether to read them again.
WATCHED_TABLES = ("outbound_lists", "import_log", "campaign_results", "list_automation_config", "daily_volumes",
                  "list_releases")
MEMO_DAYS = 32  # dates whose last warehouse facts a process keeps


@dataclass
class DayReads:
    """Everything read from the engine and the warehouse about one business date, and when."""

    day: dt.date
    read_at: dt.datetime
    run: Run | None = None
    lists: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LIST_COLUMNS))
    upload_finished: dt.datetime | None = None
    upload_lists: int = 0
    export_landed: dt.datetime | None = None
    export_rows: int = 0
    warehouse_error: str | None = None
    engine_error: str | None = None
    stale_since: dt.datetime | None = None  # set when the engine was unreachable and this is the last good read
    uploaded: dict[str, int] = field(default_factory=dict)  # records accepted per list (import log)
    active_lists: list[tuple[str, str]] = field(default_factory=list)  # the Genesys config's active lists
    volume_history: VolumeHistory | None = None  # the same-weekday window before the day (the count check)
    checklist_events: list[Event] = field(default_factory=list)
    state_error: str | None = None  # the checklist could not be read from the state store
    reconciliation: Reconciliation | None = None  # the day's stored reconciliation, if any
    open_alerts: list[dict[str, Any]] = field(default_factory=list)  # the day's alerts not resolved
    releases: list[dict[str, Any]] = field(default_factory=list)  # the upload gate's decisions (held/released)
    warehouse_read_at: dt.datetime | None = None  # when the warehouse facts were read (unchanged since)


@dataclass(frozen=True)
class VolumeHistory:
    """The daily volume aggregate over the same-weekday window before a day (``volumes.history_start``), with
    the band settings (``[checks]`` anomaly_*) it is judged by, so the checklist's count check, which sees only
    the day's status, judges a count exactly as the record-count check does."""

    frame: pd.DataFrame  # volumes.VOLUME_COLUMNS; empty when the aggregate is not there yet
    checks: dict[str, float]


@dataclass(frozen=True)
class WarehouseFacts:
    """What the warehouse says about one date, and the change markers of its tables when it was read."""

    lists: pd.DataFrame
    upload_finished: dt.datetime | None
    upload_lists: int
    export_landed: dt.datetime | None
    export_rows: int
    uploaded: dict[str, int]
    active_lists: list[tuple[str, str]]
    volume_history: VolumeHistory
    releases: list[dict[str, Any]]
    markers: dict[str, str | None]
    read_at: dt.datetime  # when these facts were read (the markers are checked on every read_day)


# Per warehouse adapter (one per process), the last facts of each date: shared by every viewer and the worker's
# jobs of the process, reused while the markers stand still.
_MEMOS: weakref.WeakKeyDictionary[Any, dict[dt.date, WarehouseFacts]] = weakref.WeakKeyDictionary()
_MEMO_LOCK = threading.Lock()


def warehouse_facts(adapters: Adapters, day: dt.date, now: dt.datetime | None = None) -> WarehouseFacts:
    """The day's warehouse facts: read again only when a watched table's change marker moved since the last read
    (``[warehouse] read_when_changed``); the marker check needs no running warehouse, the reads do."""
    now = now or dt.datetime.now(dt.UTC)
    settings = adapters.settings
    names = [getattr(settings.tables, key) for key in WATCHED_TABLES]
    with adapters.warehouse.session() as session:
        markers = _markers(adapters, session, names) if settings.read_when_changed else {}
        with _MEMO_LOCK:
            memo = _MEMOS.setdefault(adapters.warehouse, {})
            kept = memo.get(day)
        if kept is not None and markers and kept.markers == markers:
            return kept
        tables = settings.tables
        lists = pipeline_data.list_counts(session, tables, day)
        upload_finished, upload_lists = pipeline_data.upload_summary(session, tables, day)
        export_landed, export_rows = pipeline_data.export_summary(session, tables, day)
        fresh = WarehouseFacts(
            lists=lists, upload_finished=upload_finished, upload_lists=upload_lists, export_landed=export_landed,
            export_rows=export_rows, uploaded=pipeline_data.uploaded_lists(session, tables, day),
            active_lists=pipeline_data.active_genesys_lists(session, tables),
            volume_history=_volume_history(session, settings, day),
            releases=pipeline_data.list_releases(session, tables, day), markers=markers, read_at=now)
    if markers:
        with _MEMO_LOCK:
            memo[day] = fresh
            for old in sorted(memo)[:-MEMO_DAYS]:
                del memo[old]
    return fresh


def _markers(adapters: Adapters, session: Any, names: list[str]) -> dict[str, str | None]:
    """The change markers, or {} (read everything, keep nothing) when SHOW TABLES fails for another reason than
    the connection: a role without the privilege must cost money, not correctness."""
    try:
        return adapters.warehouse.change_markers(session, names)
    except ConsoleError:
        raise
    except Exception as exc:
        logger.warning("change markers not readable (%s: %s); reading the day's facts in full",
                       type(exc).__name__, str(exc)[:200])
        adapters.warehouse.meter.data_version({})  # nothing is known unchanged: no result-cache estimate either
        return {}


def forget_warehouse_facts(adapters: Adapters) -> None:
    """Drop this adapter set's kept facts, so that the next read goes to the warehouse whatever the markers say
    (no front door needs it: a person's action that changes a table moves its marker)."""
    with _MEMO_LOCK:
        _MEMOS.pop(adapters.warehouse, None)


@dataclass(frozen=True)
class Event:
    item_key: str
    seq: int
    action: str
    actor: str
    role: str
    at: dt.datetime
    note: str
    evidence: str


@dataclass
class WorkerStatus:
    alive: bool
    owner: str | None
    beat_at: dt.datetime | None
    age_seconds: float | None
    message: str


def worker_status(adapters: Adapters, now: dt.datetime | None = None) -> WorkerStatus:
    """Whether a worker is beating on this store, for the page frame and ``status``."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        with adapters.store.connect() as conn:
            row = conn.execute(sa.select(worker_heartbeat)).first()
    except sa.exc.SQLAlchemyError as exc:
        logger.warning("worker heartbeat read failed: %s", exc)
        cause = type(getattr(exc, "orig", None) or exc).__name__
        return WorkerStatus(False, None, None, None,
                            f"The state store cannot be read ({cause}), so the worker's heartbeat is unknown.")
    if row is None:
        return WorkerStatus(False, None, None, None, "The worker has never run on this state store.")
    age = (now - row.beat_at).total_seconds()
    stale = adapters.settings.thresholds["heartbeat_stale_seconds"]
    if row.status == "stopped":
        return WorkerStatus(False, row.owner, row.beat_at, age, "The worker is stopped.")
    if age > stale:
        return WorkerStatus(False, row.owner, row.beat_at, age,
                            f"No worker heartbeat for {int(age)} s: the worker is down or stuck.")
    return WorkerStatus(True, row.owner, row.beat_at, age, f"Worker alive (heartbeat {int(age)} s ago).")


def read_day(adapters: Adapters, day: dt.date, now: dt.datetime | None = None) -> DayReads:
    """The engine's run and the warehouse's list, upload and export facts for ``day``; failures are recorded."""
    reads = DayReads(day=day, read_at=now or dt.datetime.now(dt.UTC))
    try:
        reads.run = adapters.engine.run_for_date(day)
    except ConsoleError as exc:
        reads.engine_error = str(exc)
    except Exception as exc:  # the state store or the Jobs API is down: say so, keep the page up
        logger.warning("engine read for %s failed: %s", day, exc)
        cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error: name that one
        reads.engine_error = f"Could not reach the workflow engine: {type(cause).__name__}: {str(cause)[:200]}"
    try:
        known = warehouse_facts(adapters, day, reads.read_at)
        # copies: the kept facts are shared by every later read of the process
        reads.lists, reads.uploaded = known.lists.copy(), dict(known.uploaded)
        reads.active_lists, reads.releases = list(known.active_lists), [dict(r) for r in known.releases]
        reads.upload_finished, reads.upload_lists = known.upload_finished, known.upload_lists
        reads.export_landed, reads.export_rows = known.export_landed, known.export_rows
        reads.volume_history = VolumeHistory(known.volume_history.frame.copy(), dict(known.volume_history.checks))
        reads.warehouse_read_at = known.read_at
    except ConsoleError as exc:
        reads.warehouse_error = str(exc)
    except Exception as exc:  # a missing table on a fresh warehouse, a SQL error: say it, keep the page up
        logger.warning("warehouse read for %s failed: %s", day, exc)
        reads.warehouse_error = f"Could not read the warehouse: {type(exc).__name__}: {str(exc)[:300]}"
    try:
        reads.checklist_events = checklist_events_of(adapters.store, day)
        reads.reconciliation = stored_reconciliation(adapters, day)
        reads.open_alerts = [a for a in alert_rows(adapters, day, day) if a["state"] != RESOLVED]
    except Exception as exc:
        logger.warning("checklist read for %s failed: %s", day, exc)
        cause = getattr(exc, "orig", None) or exc
        reads.state_error = f"Could not read the checklist: {type(cause).__name__}: {str(cause)[:200]}"
    return reads


def _volume_history(session: Any, settings: Settings, day: dt.date) -> VolumeHistory:
    """The daily volume aggregate's rows of the same-weekday window before ``day`` (one read, never the raw
    list rows); empty when the aggregate is not there yet (the count check then lacks history)."""
    try:
        frame = volumes.daily_volumes(session, settings.tables, volumes.history_start(settings, day),
                                      day - dt.timedelta(days=1))
    except Exception as exc:
        logger.warning("daily volume aggregate not readable: %s", exc)
        frame = pd.DataFrame(columns=volumes.VOLUME_COLUMNS)
    return VolumeHistory(frame, dict(settings.checks))


def keep_last_known(reads: DayReads, memo: dict[dt.date, DayReads]) -> DayReads:
    """When the engine cannot be reached, fall back to the last good engine read of the day (marked stale)."""
    if reads.engine_error is None:
        memo[reads.day] = reads
        return reads
    last = memo.get(reads.day)
    if last is None:
        return reads
    return dataclasses.replace(reads, run=last.run, stale_since=last.read_at)


def read_history(adapters: Adapters, day: dt.date) -> list[dict[str, Any]]:
    """Task durations of the business days before ``day`` (the ETA's input); [] if the engine is down."""
    days = last_business_days(day - dt.timedelta(days=1), int(adapters.settings.eta["history_days"]))
    try:
        return adapters.engine.task_history(days[0], days[-1])
    except Exception as exc:
        logger.warning("engine history read failed: %s", exc)
        return []


# ------------------------------------------------------------------------------------------------ state DB
def checklist_events_of(store: StateStore, day: dt.date) -> list[Event]:
    """Every checklist event of ``day`` (ticks, confirmations, sign-off), in order per item."""
    with store.connect() as conn:
        rows = conn.execute(sa.select(checklist_events).where(checklist_events.c.business_date == day)
                            .order_by(checklist_events.c.item_key, checklist_events.c.seq)).all()
    return [Event(r.item_key, r.seq, r.action, r.actor, r.role, r.at, r.note, r.evidence) for r in rows]


def stored_reconciliation(adapters: Adapters, day: dt.date) -> Reconciliation | None:
    """The newest stored successful reconciliation of ``day`` (with the newest failure after it), or None."""
    with adapters.store.connect() as conn:
        runs = conn.execute(sa.select(reconcile_runs).where(reconcile_runs.c.business_date == day)
                            .order_by(reconcile_runs.c.id.desc())).all()
        good = next((r for r in runs if r.status == "succeeded"), None)
        failed = next((r for r in runs if r.status == "failed" and (good is None or r.id > good.id)), None)
        failure = {"run_id": failed.id, "at": failed.started_at.isoformat(), "requested_by": failed.requested_by,
                   "message": failed.message} if failed else None
        if good is None:
            if failed is None:
                return None
            empty = pd.DataFrame(columns=ROW_COLUMNS)
            return Reconciliation(day, empty, [], failed.started_at, None, failed.requested_by, failure)
        rows = conn.execute(sa.select(reconcile_rows).where(reconcile_rows.c.run_id == good.id)
                            .order_by(reconcile_rows.c.list_name, reconcile_rows.c.channel)).all()
    frame = pd.DataFrame([[r.list_name, r.channel, r.generated, r.sent, r.accepted, r.exported, r.status, r.reason]
                          for r in rows], columns=ROW_COLUMNS)
    for column in ("SENT", "ACCEPTED"):
        frame[column] = frame[column].astype("Int64")
    checks = [CheckResult(**c) for c in json.loads(good.checks or "[]")]
    return Reconciliation(day, frame, checks, good.started_at, good.id, good.requested_by, failure)


HISTORY_COLUMNS = ["BUSINESS_DATE", "MATCH_RATE", "MATCHED", "PAIRS", "GENERATED", "EXPORTED", "RUN_AT"]


def reconciliation_history(adapters: Adapters, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Per business date from ``start`` to ``end``: the newest successful run's match rate."""
    with adapters.store.connect() as conn:
        rows = conn.execute(sa.select(reconcile_runs).where(
            reconcile_runs.c.business_date >= start, reconcile_runs.c.business_date <= end,
            reconcile_runs.c.status == "succeeded").order_by(reconcile_runs.c.id)).all()
    newest = {r.business_date: r for r in rows}
    records = [[d, (r.matched / r.pairs) if r.pairs else None, r.matched, r.pairs, r.generated, r.exported,
                r.started_at] for d, r in sorted(newest.items())]
    return pd.DataFrame(records, columns=HISTORY_COLUMNS)


def alert_rows(adapters: Adapters, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The alerts of the business dates ``start``..``end``, newest first."""
    with adapters.store.connect() as conn:
        rows = conn.execute(sa.select(alerts).where(alerts.c.business_date.between(start, end))
                            .order_by(alerts.c.business_date.desc(), alerts.c.opened_at.desc())).all()
    return [dict(r._mapping) for r in rows]


def open_alert_count(adapters: Adapters) -> int:
    """Alerts of any date that are not resolved."""
    with adapters.store.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(alerts)
                                .where(alerts.c.state != RESOLVED)).scalar() or 0)


def warehouse_statement_rows(adapters: Adapters, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """The console's warehouse statements from ``start`` to ``end`` (UTC): AT, PROCESS, KIND, STATEMENT."""
    with adapters.store.connect() as conn:
        rows = conn.execute(sa.select(warehouse_statements.c.at, warehouse_statements.c.process,
                                      warehouse_statements.c.kind, warehouse_statements.c.statement)
                            .where(warehouse_statements.c.at >= start, warehouse_statements.c.at < end)
                            .order_by(warehouse_statements.c.at)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["AT", "PROCESS", "KIND", "STATEMENT"])
