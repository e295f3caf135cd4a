"""The status of a business date in one structure: what ``status --json`` prints and the status pages show.

Reading and judging are separate: ``read_day`` and ``read_history`` do all the I/O (engine and warehouse;
the pages cache them, shared by every session), ``day_status`` turns those reads and the clock into
milestone states, the ETA and one overall verdict without any further I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from console import checklist, pipeline_data
from console import eta as eta_module
from console.adapters.protocols import Adapters
from console.clock import ET, Clock, SystemClock, at_et, business_date, hhmm, is_business_day, last_business_days
from console.errors import ConsoleError, InvalidRequest
from console.eta import Eta
from console.model import Run, TaskState
from console.timeline import AT_RISK, DONE, FAILED, LATE, DayFacts, MilestoneState, milestone_states
from console.worker import WorkerStatus, worker_status

logger = logging.getLogger(__name__)


LIST_COLUMNS = ["LIST_NAME", "CHANNEL", "DESTINATION", "RECORDS", "GENERATED_AT"]

# The overall verdict of a business date, worst first.
OVERALL_FAILED, OVERALL_LATE, OVERALL_AT_RISK, OVERALL_ON_TRACK, OVERALL_DONE = (
    "failed", "late", "at_risk", "on_track", "done")
OVERALL_WORDS = {OVERALL_FAILED: "Failed", OVERALL_LATE: "Late", OVERALL_AT_RISK: "At risk",
                 OVERALL_ON_TRACK: "On track", OVERALL_DONE: "Done"}


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
    recent_counts: dict[str, list[tuple[dt.date, int]]] = field(default_factory=dict)  # per list, previous days
    checklist_events: list[Any] = field(default_factory=list)
    state_error: str | None = None  # the checklist could not be read from the state store
    reconciliation: Any = None  # the day's stored console.reconcile.Reconciliation, if any
    open_alerts: list[dict[str, Any]] = field(default_factory=list)  # the day's alerts not resolved


@dataclass
class Overall:
    state: str  # failed | late | at_risk | on_track | done
    reason: str

    @property
    def words(self) -> str:
        return OVERALL_WORDS[self.state]


@dataclass
class DayStatus:
    mode: str
    business_date: dt.date
    now: dt.datetime
    run: Run | None
    lists: pd.DataFrame
    milestones: list[MilestoneState]
    worker: WorkerStatus | None
    warehouse_error: str | None = None
    task_order: list[str] = field(default_factory=list)
    eta: Eta | None = None
    overall: Overall = field(default_factory=lambda: Overall(OVERALL_ON_TRACK, ""))
    engine_error: str | None = None
    read_at: dt.datetime | None = None
    stale_since: dt.datetime | None = None
    uploaded: dict[str, int] = field(default_factory=dict)
    active_lists: list[tuple[str, str]] = field(default_factory=list)
    recent_counts: dict[str, list[tuple[dt.date, int]]] = field(default_factory=dict)
    checklist: list[Any] = field(default_factory=list)  # checklist.ItemState per configured item
    checklist_events: list[Any] = field(default_factory=list)
    reconciliation: Any = None
    open_alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def checklist_done(self) -> tuple[int, int]:
        return sum(1 for s in self.checklist if s.done), len(self.checklist)

    @property
    def workflow_state(self) -> str:
        if self.run is None:
            return "not_started"
        return self.run.state.value

    def to_json(self) -> dict[str, Any]:
        def iso(moment: dt.datetime | None) -> str | None:
            return moment.astimezone(ET).isoformat() if moment else None

        run = self.run
        tasks = run.tasks if run else []
        eta = self.eta
        return {
            "mode": self.mode,
            "demo_data": self.mode == "embedded",
            "business_date": self.business_date.isoformat(),
            "generated_at": iso(self.now),
            "overall": {"state": self.overall.state, "reason": self.overall.reason},
            "workflow": {
                "state": self.workflow_state,
                "run_id": run.run_id if run else None,
                "start": iso(run.start) if run else None,
                "end": iso(run.end) if run else None,
                "message": run.state_message if run else "No run for this business date yet.",
                "tasks_done": run.done_count if run else 0,
                "tasks_total": len(self.task_order),
                "tasks": [{"task_key": t.task_key, "state": t.state.value, "attempt": t.attempt,
                           "start": iso(t.start), "end": iso(t.end), "error": t.error_message} for t in tasks],
            },
            "eta": None if eta is None else {
                "verdict": eta.verdict, "target": iso(eta.target), "expected_finish": iso(eta.expected_finish),
                "pessimistic_finish": iso(eta.pessimistic_finish), "critical_path": eta.critical_path,
                "notes": eta.notes, "history_runs": eta.samples},
            "lists": [{"list_name": r.LIST_NAME, "channel": r.CHANNEL, "destination": r.DESTINATION,
                       "records": int(r.RECORDS)} for r in self.lists.itertuples()],
            "milestones": [{"key": m.key, "name": m.name, "planned": iso(m.planned), "status": m.status,
                            "actual": iso(m.actual), "detail": m.detail} for m in self.milestones],
            "worker": None if self.worker is None else {
                "alive": self.worker.alive, "message": self.worker.message, "heartbeat": iso(self.worker.beat_at)},
            "checklist": [{
                "group": c.item.group, "item": c.item.text, "due": c.item.due_label, "state": c.state,
                "automatic": c.item.check or None,
                "by": c.last.actor if c.last is not None and c.state in ("ticked", "n/a") else None,
                "at": iso(c.last.at) if c.last is not None and c.state in ("ticked", "n/a") else None,
                "evidence": c.evidence} for c in self.checklist],
            "warehouse_error": self.warehouse_error,
            "engine_error": self.engine_error,
            "stale_since": iso(self.stale_since),
        }


def check_date(day: dt.date, clock: Clock, earliest: dt.date | None = None) -> dt.date:
    """Validate a business date asked for by a person; raise ``InvalidRequest`` saying why not."""
    today = clock.now().astimezone(ET).date()
    if day > today:
        raise InvalidRequest(f"{day} is in the future (today is {today} in ET).", "Pick today or an earlier date.")
    if not is_business_day(day):
        raise InvalidRequest(f"{day} is not a business day (weekend or US holiday): the workflow does not run.",
                             "Pick a weekday that is not a holiday.")
    if earliest and day < earliest:
        raise InvalidRequest(f"{day} is before the first day with data ({earliest}).", f"Pick {earliest} or later.")
    return day


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
        with adapters.warehouse.session() as session:
            tables = adapters.settings.tables
            reads.lists = pipeline_data.list_counts(session, tables, day)
            reads.upload_finished, reads.upload_lists = pipeline_data.upload_summary(session, tables, day)
            reads.export_landed, reads.export_rows = pipeline_data.export_summary(session, tables, day)
            reads.uploaded = pipeline_data.uploaded_lists(session, tables, day)
            reads.active_lists = pipeline_data.active_genesys_lists(session, tables)
            reads.recent_counts = _recent_counts(session, tables, day)
    except ConsoleError as exc:
        reads.warehouse_error = str(exc)
    except Exception as exc:  # a missing table on a fresh warehouse, a SQL error: say it, keep the page up
        logger.warning("warehouse read for %s failed: %s", day, exc)
        reads.warehouse_error = f"Could not read the warehouse: {type(exc).__name__}: {str(exc)[:300]}"
    try:
        reads.checklist_events = checklist.read_events(adapters.store, day)
        from console import alerts, reconcile

        reads.reconciliation = reconcile.stored(adapters, day)
        reads.open_alerts = [a for a in alerts.listing(adapters, day, day) if a["state"] != alerts.RESOLVED]
    except Exception as exc:
        logger.warning("checklist read for %s failed: %s", day, exc)
        cause = getattr(exc, "orig", None) or exc
        reads.state_error = f"Could not read the checklist: {type(cause).__name__}: {str(cause)[:200]}"
    return reads


def _recent_counts(session: Any, tables: Any, day: dt.date) -> dict[str, list[tuple[dt.date, int]]]:
    """(date, records) per list over the business days before ``day``, from the daily volume aggregate (never
    the raw list rows); empty when the aggregate is not there yet (the count check then lacks history)."""
    from console import volumes

    days = last_business_days(day - dt.timedelta(days=1), checklist.COUNT_HISTORY_DAYS)
    try:
        frame = volumes.daily_volumes(session, tables, days[0], days[-1])
    except Exception as exc:
        logger.warning("daily volume aggregate not readable: %s", exc)
        return {}
    per_day = frame.groupby(["LIST_NAME", "BUSINESS_DATE"])["RECORDS"].sum()
    out: dict[str, list[tuple[dt.date, int]]] = {}
    for (name, when), records in per_day.items():
        out.setdefault(str(name), []).append((when, int(records)))
    return out


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


def day_status(adapters: Adapters, day: dt.date | None = None, clock: Clock | None = None,
               reads: DayReads | None = None, history: list[dict[str, Any]] | None = None,
               worker: WorkerStatus | None = None) -> DayStatus:
    """Everything about one business date; reads not given are made here."""
    clock = clock or SystemClock()
    now = clock.now()
    settings = adapters.settings
    day = day or business_date(now, settings.day_rolls_at)
    reads = reads or read_day(adapters, day, now)
    history = read_history(adapters, day) if history is None else history
    run = reads.run
    estimate = None
    if reads.engine_error is None or reads.stale_since is not None:
        stats = eta_module.duration_stats(
            history, adapters.spec, quantile=settings.eta["quantile"],
            weekday=day.weekday() if settings.eta["weekday_weight"] > 1 else None,
            weekday_weight=settings.eta["weekday_weight"], fallback_seconds=settings.eta["fallback_minutes"] * 60)
        estimate = eta_module.estimate(adapters.spec, run, stats, now,
                                       at_et(day, settings.milestone("workflow_target").time),
                                       at_et(day, settings.milestone("workflow_start").time))
    facts = DayFacts(run, reads.upload_finished, reads.upload_lists, reads.export_landed, reads.export_rows)
    milestones = milestone_states(settings, day, now, facts, estimate)
    status = DayStatus(
        mode=adapters.mode, business_date=day, now=now, run=run, lists=reads.lists, milestones=milestones,
        worker=worker if worker is not None else worker_status(adapters), warehouse_error=reads.warehouse_error,
        task_order=adapters.spec.keys, eta=estimate, overall=overall(adapters, run, milestones, estimate, now),
        engine_error=reads.engine_error, read_at=reads.read_at, stale_since=reads.stale_since,
        uploaded=reads.uploaded, active_lists=reads.active_lists, recent_counts=reads.recent_counts,
        checklist_events=reads.checklist_events, reconciliation=reads.reconciliation,
        open_alerts=reads.open_alerts,
    )
    status.checklist = checklist.evaluate(settings.checklist, status, reads.checklist_events)
    return status


def overall(adapters: Adapters, run: Run | None, milestones: list[MilestoneState], estimate: Eta | None,
            now: dt.datetime) -> Overall:
    """One verdict for the day, the worst that applies, with the reason in words."""
    spec = adapters.spec

    def short(key: str) -> str:
        return spec.task(key).short_key if key in spec.keys else key

    by_status: dict[str, list[MilestoneState]] = {}
    for m in milestones:
        by_status.setdefault(m.status, []).append(m)
    if by_status.get(FAILED) or (estimate is not None and estimate.verdict == eta_module.FAILED):
        failed = [t for t in (run.tasks if run else []) if t.state == TaskState.FAILED]
        if failed:
            first = failed[0]
            error = f": {first.error_message.splitlines()[0][:160]}" if first.error_message else ""
            when = f" at {hhmm(first.end)} ET" if first.end else ""
            others = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            return Overall(OVERALL_FAILED, f"{short(first.task_key)} failed{when}{others}{error}. "
                                           "Rerun it and its dependents from the Workflow page.")
        first_failed = by_status[FAILED][0] if by_status.get(FAILED) else None
        return Overall(OVERALL_FAILED, f"{first_failed.name}: {first_failed.detail}" if first_failed
                       else "The workflow run did not succeed.")
    if by_status.get(LATE):
        m = by_status[LATE][0]
        expected = ""
        if m.key == "workflow_target" and estimate is not None and estimate.expected_finish and not m.actual:
            expected = f" Expected to finish at {hhmm(estimate.expected_finish)} ET."
        done_late = f"done at {hhmm(m.actual)} ET, " if m.actual else ""
        return Overall(OVERALL_LATE, f"{m.name} (due {hhmm(m.planned)} ET) is late: {done_late}{m.detail}"
                                     f"{expected}")
    if by_status.get(AT_RISK):
        m = by_status[AT_RISK][0]
        return Overall(OVERALL_AT_RISK, f"{m.name} (due {hhmm(m.planned)} ET): {m.detail}")
    if all(m.status == DONE for m in milestones):
        return Overall(OVERALL_DONE, "Every milestone of the day was met on time.")
    upcoming = next((m for m in milestones if m.status != DONE), None)
    if estimate is not None and estimate.verdict in (eta_module.ON_TRACK,) and estimate.expected_finish:
        return Overall(OVERALL_ON_TRACK,
                       f"Expected to finish at {hhmm(estimate.expected_finish)} ET (at worst "
                       f"{hhmm(estimate.pessimistic_finish)}), before the {hhmm(estimate.target)} target.")
    if upcoming is not None:
        what = "in progress" if upcoming.status == "running" else "next"
        return Overall(OVERALL_ON_TRACK, f"{upcoming.name} {what}, due {hhmm(upcoming.planned)} ET. "
                                         f"{upcoming.detail}")
    return Overall(OVERALL_ON_TRACK, "Nothing is overdue.")


