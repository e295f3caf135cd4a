"""The worker process: APScheduler 3.x with its job store in the state DB, one worker per store.

Jobs are referenced as ``module:function`` (they must be importable to be stored) and reach the adapter
set through this module's ``_runtime``, set when the worker starts. Every job catches its own errors,
logs them and records a ``job_events`` row: a failing job never stops the scheduler.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from console import alerts, demo, facts, metrics
from console.adapters.local_engine import executor_id
from console.adapters.protocols import Adapters
from console.clock import ET, Clock, SystemClock, at_et, business_date, hhmm, is_business_day
from console.errors import WorkerLocked
from console.facts import stored_reconciliation
from console.reconcile import reconcile_day
from console.store import job_events, worker_heartbeat

logger = logging.getLogger(__name__)
SYSTEM_USER = "worker"


@dataclass
class _Runtime:
    adapters: Adapters
    clock: Clock
    owner: str
    pool: cf.ThreadPoolExecutor
    stop: threading.Event = field(default_factory=threading.Event)  # set: the worker stops itself


_runtime: _Runtime | None = None


def _rt() -> _Runtime:
    if _runtime is None:
        raise RuntimeError("the worker runtime is not initialised")
    return _runtime


# ------------------------------------------------------------------------------------------------ heartbeat/lock
def acquire_lock(adapters: Adapters, owner: str, now: dt.datetime) -> None:
    """Take the one-worker-per-store lock, or raise ``WorkerLocked`` naming the holder."""
    stale_before = now - dt.timedelta(seconds=adapters.settings.thresholds["heartbeat_stale_seconds"])
    with adapters.store.begin() as conn:
        row = conn.execute(sa.select(worker_heartbeat)).first()
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(worker_heartbeat.insert().values(
                        worker="worker", owner=owner, started_at=now, beat_at=now, status="running", detail=""))
                return
            except sa.exc.IntegrityError:
                row = conn.execute(sa.select(worker_heartbeat)).first()
        taken = conn.execute(worker_heartbeat.update().where(
            worker_heartbeat.c.worker == "worker",
            sa.or_(worker_heartbeat.c.status == "stopped", worker_heartbeat.c.beat_at < stale_before,
                   worker_heartbeat.c.owner == owner),
        ).values(owner=owner, started_at=now, beat_at=now, status="running", detail="")).rowcount
    if not taken:
        assert row is not None
        raise WorkerLocked(f"Another worker ({row.owner}) is running on this state store "
                           f"(heartbeat at {row.beat_at:%H:%M:%S} UTC).")


def release_lock(adapters: Adapters, owner: str) -> None:
    with adapters.store.begin() as conn:
        conn.execute(worker_heartbeat.update().where(worker_heartbeat.c.owner == owner)
                     .values(status="stopped", beat_at=dt.datetime.now(dt.UTC)))


# ------------------------------------------------------------------------------------------------ job plumbing
def _record(job: str, day: dt.date | None, action: Callable[[], str]) -> None:
    """Run one job body with a status row; errors are logged and recorded, never raised."""
    rt = _rt()
    started = dt.datetime.now(dt.UTC)
    with rt.adapters.store.begin() as conn:
        event_id = conn.execute(job_events.insert().values(job=job, business_date=day, started_at=started,
                                                           status="running", message="")).inserted_primary_key[0]
    try:
        message, status = action(), "succeeded"
    except Exception as exc:
        logger.exception("worker job %s for %s failed", job, day)
        message, status = f"{type(exc).__name__}: {exc}", "failed"
    with rt.adapters.store.begin() as conn:
        conn.execute(job_events.update().where(job_events.c.id == event_id).values(
            status=status, message=message[:2000], finished_at=dt.datetime.now(dt.UTC)))


def _today() -> dt.date | None:
    """Today's date in ET if it is a business day, else None (the jobs do not run)."""
    now = _rt().clock.now().astimezone(ET)
    return now.date() if is_business_day(now.date()) else None


def heartbeat() -> None:
    """Beat, and stop this worker if its lock is gone: a worker paused past the stale limit (a frozen VM, a
    long GC, a suspended laptop) whose lock another worker took kept scheduling and failed that worker's runs."""
    rt = _rt()
    try:
        with rt.adapters.store.begin() as conn:
            beat = conn.execute(worker_heartbeat.update().where(worker_heartbeat.c.owner == rt.owner)
                                .values(beat_at=dt.datetime.now(dt.UTC), status="running")).rowcount
            holder = None if beat else conn.execute(sa.select(worker_heartbeat.c.owner)).scalar()
    except Exception:
        logger.exception("heartbeat failed")
        return
    if not beat:
        logger.error("worker %s lost its lock to %s (its heartbeat went stale): stopping", rt.owner, holder)
        rt.stop.set()


def process_actions() -> None:
    rt = _rt()
    try:
        rt.adapters.engine.process_requests(background=lambda job: rt.pool.submit(job))
    except Exception:
        logger.exception("processing action requests failed")


def prepare_sources() -> None:
    """Embedded stack: the upstream feeds of the day (loan-tape load, SFTP drop) before 06:00."""
    day = _today()
    if day is not None and _rt().adapters.is_demo:
        _record("prepare_sources", day, lambda: demo.prepare_day(_rt().adapters, day))


def trigger_workflow() -> None:
    day = _today()
    if day is None or _rt().adapters.engine.kind == "databricks":  # Databricks runs the job on its own schedule
        return

    def body() -> str:
        adapters = _rt().adapters
        # The demo started after today's run would have ended: the day as it would have happened, not a live
        # run at this hour (which made every milestone late). A person's run, rerun or repair is live.
        if demo.replayable(adapters, day, _rt().clock.now()):
            # While the day is rebuilt its facts are half there (the lists and the upload before the run's
            # record): the watch and the alert cycle wait for it, then judge it once, below.
            _REPLAYING.set()
            try:
                return demo.replay_day(adapters, day, _rt().clock, SYSTEM_USER)
            finally:
                _REPLAYING.clear()
        if adapters.is_demo:
            demo.prepare_day(adapters, day)
        run = adapters.engine.trigger(day, SYSTEM_USER, trigger="SCHEDULE")
        run = adapters.engine.execute(run.run_id)
        return f"run {run.run_id} {run.state.label}"

    _record("workflow", day, body)
    checks_if_changed()  # the lists are judged (and a bad one held) now, long before the upload
    evaluate_alerts()  # a failed task alerts now, not at the next interval


def genesys_upload() -> None:
    day = _today()
    if day is not None and _rt().adapters.is_demo:
        checks_if_changed()  # the simulated upload reads the gate: make sure it has judged the latest lists
        _record("genesys_upload", day, lambda: demo.genesys_upload(_rt().adapters, day))


def results_export() -> None:
    day = _today()
    if day is not None and _rt().adapters.is_demo:
        _record("results_export", day, lambda: demo.results_export(_rt().adapters, day))


# Set while the demo rebuilds today (``demo.replay_day``): the watch and the alert cycle skip that moment.
_REPLAYING = threading.Event()


def evaluate_alerts() -> None:
    """The alert rules for today's business date, the digest when due, and delivery of the outbox."""

    rt = _rt()
    if _REPLAYING.is_set():
        return
    now = rt.clock.now()
    _record("alerts", business_date(now, rt.adapters.settings.day_rolls_at),
            lambda: ", ".join(f"{k} {v}" for k, v in alerts.run_cycle(rt.adapters, now).items() if v) or "nothing new")


def reconcile(trigger: str = "SCHEDULE") -> None:
    """Reconciliation, quality checks and the upload gate of today (at 08:15, 09:05 and 23:00, and when the
    facts change)."""
    day = _today()
    if day is None:
        return

    def body() -> str:
        result = reconcile_day(_rt().adapters, day, SYSTEM_USER, trigger=trigger, clock=_rt().clock)
        failed = [c.name for c in result.checks if c.status == "fail"]
        words = f"{result.matched} of {result.pairs} lists matched"
        return words + (f"; failed: {', '.join(failed)}" if failed else "")

    _record("reconcile", day, body)


# A reconciliation that failed (warehouse down) is not retried by the watch for this long.
RETRY_AFTER_FAILURE = dt.timedelta(minutes=5)


def facts_changed(adapters: Adapters, day: dt.date, now: dt.datetime) -> str | None:
    """What changed since the day's last reconciliation, in words, or None: a run or repair that finished, the
    Genesys import log or the results landing. Reads the engine every time; the warehouse's facts only when a
    table's change marker moved (``facts.warehouse_facts``: the marker needs no running warehouse), so the watch
    can look all day: an upload that lands at 10:30 is checked at 10:30, not at the evening's reconciliation."""
    kept = stored_reconciliation(adapters, day)
    if kept is not None and kept.failure and now - dt.datetime.fromisoformat(kept.failure["at"]) < RETRY_AFTER_FAILURE:
        return None
    since = kept.at if kept is not None and kept.run_id is not None else None
    run = adapters.engine.run_for_date(day)
    if run is not None and run.state.is_terminal and run.end is not None and (since is None or run.end > since):
        return f"run {run.run_id} {run.state.label} at {hhmm(run.end)} ET"
    if since is None:
        return None
    if not adapters.settings.read_when_changed and not _in_windows(adapters, day, now):
        return None  # without change markers every look reads the warehouse: only where a change is expected
    known = facts.warehouse_facts(adapters, day, now)
    for moment, what in ((known.upload_finished, "the Genesys upload"), (known.export_landed, "the results export")):
        if moment is not None and since < moment <= now:  # (a clock frozen before a stamp: not news yet)
            return f"{what} landed at {hhmm(moment)} ET"
    return None


def _in_windows(adapters: Adapters, day: dt.date, now: dt.datetime) -> bool:
    """From the upload until an hour after "ready", and for three hours after the export."""
    s = adapters.settings.schedules
    upload, export = at_et(day, s["genesys_upload"]), at_et(day, s["results_export"])
    ready = at_et(day, adapters.settings.milestone("ready").time)
    return upload <= now <= ready + dt.timedelta(hours=1) or export <= now <= export + dt.timedelta(hours=3)


def checks_if_changed() -> None:
    """The watch: reconcile, check and gate today when its facts changed since the last time, then alert."""
    day = _today()
    if day is None or _REPLAYING.is_set():
        return
    rt = _rt()
    try:
        change = facts_changed(rt.adapters, day, rt.clock.now())
    except Exception:
        logger.exception("watching %s for changes failed", day)
        return
    if change is None:
        return
    logger.info("checks for %s: %s", day, change)
    reconcile(trigger="CHANGE")
    evaluate_alerts()


def catch_up() -> None:
    """After a start: do today's milestones whose time has passed and that are not done yet, in order."""
    rt = _rt()
    now = rt.clock.now().astimezone(ET)
    day = now.date()
    if not is_business_day(day):
        return
    schedules = rt.adapters.settings.schedules
    run = rt.adapters.engine.run_for_date(day) if now >= at_et(day, schedules["workflow"]) else None
    if now >= at_et(day, schedules["workflow"]) and (run is None or run.life_cycle_state == "PENDING"):
        trigger_workflow()  # none yet, or today's run triggered before a crash and never started
    if rt.adapters.is_demo:
        if now >= at_et(day, schedules["genesys_upload"]) and not demo.uploaded(rt.adapters, day):
            genesys_upload()
        if now >= at_et(day, schedules["results_export"]) and not demo.exported(rt.adapters, day):
            results_export()


# ------------------------------------------------------------------------------------------------ the scheduler
def _cron(hhmm: str) -> dict[str, Any]:
    hour, minute = hhmm.split(":")
    return {"trigger": "cron", "day_of_week": "mon-fri", "hour": int(hour), "minute": int(minute),
            "timezone": "America/New_York"}


def _minus(hhmm: str, minutes: int) -> str:
    hour, minute = (int(part) for part in hhmm.split(":"))
    moment = dt.datetime(2000, 1, 1, hour, minute) - dt.timedelta(minutes=minutes)
    return moment.strftime("%H:%M")


def build_scheduler(adapters: Adapters, blocking: bool = True) -> Any:
    s = adapters.settings.schedules
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        jobstores={"default": SQLAlchemyJobStore(engine=adapters.store.engine, tablename="apscheduler_jobs")},
        executors={"default": ThreadPoolExecutor(6)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": s["misfire_grace_seconds"]},
        timezone="America/New_York",
    )
    jobs: list[tuple[str, str, dict[str, Any]]] = [
        ("heartbeat", "console.worker:heartbeat", {"trigger": "interval", "seconds": s["heartbeat_seconds"]}),
        ("actions", "console.worker:process_actions", {"trigger": "interval", "seconds": s["action_poll_seconds"]}),
        ("workflow", "console.worker:trigger_workflow", _cron(s["workflow"])),
        ("alerts", "console.worker:evaluate_alerts",
         {"trigger": "interval", "minutes": adapters.settings.alerts["evaluate_minutes"]}),
        ("watch", "console.worker:checks_if_changed", {"trigger": "interval", "seconds": s["watch_seconds"]}),
        # Before the 08:30 upload (the gate decides), and as a safety net after 09:00 (uploads due) and after
        # the 22:30 export has had time to land.
        ("pre_upload", "console.worker:reconcile", _cron(s["pre_upload"])),
        ("reconcile_morning", "console.worker:reconcile",
         _cron(_minus(adapters.settings.milestone("ready").time, -5))),
        ("reconcile_evening", "console.worker:reconcile", _cron(_minus(s["results_export"], -30))),
    ]
    if adapters.is_demo:
        jobs += [
            ("prepare_sources", "console.worker:prepare_sources", _cron(_minus(s["workflow"], 30))),
            ("genesys_upload", "console.worker:genesys_upload", _cron(s["genesys_upload"])),
            ("results_export", "console.worker:results_export", _cron(s["results_export"])),
        ]
    for job_id, func, trigger in jobs:
        # replace_existing: a changed schedule in settings replaces the stored job (job_defaults do not).
        scheduler.add_job(func, id=job_id, name=job_id, replace_existing=True,
                          misfire_grace_time=s["misfire_grace_seconds"], coalesce=True, max_instances=1, **trigger)
    return scheduler


def run_worker(adapters: Adapters, clock: Clock | None = None, stop: threading.Event | None = None) -> None:
    """Run the worker until Ctrl-C / SIGTERM (or ``stop`` is set): lock, recover, catch up, schedule."""
    global _runtime

    clock = clock or SystemClock()
    owner = executor_id()
    acquire_lock(adapters, owner, dt.datetime.now(dt.UTC))
    pool = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="action")
    stop = stop or threading.Event()
    _runtime = _Runtime(adapters, clock, owner, pool, stop)
    recovered = adapters.engine.recover_orphans(today=clock.now().astimezone(ET).date())
    if recovered:
        logger.warning("marked %d run(s) left running by a stopped worker as failed: %s", len(recovered), recovered)
    scheduler = build_scheduler(adapters, blocking=False)
    scheduler.start()
    exporter = None
    if adapters.settings.metrics_port:
        try:
            exporter = metrics.serve(adapters, adapters.settings.metrics_port)
            logger.info("health and metrics on http://127.0.0.1:%d/healthz and /metrics",
                        adapters.settings.metrics_port)
        except OSError as exc:  # the port is taken: the worker still works, without its metrics
            logger.warning("health and metrics not served on 127.0.0.1:%d: %s (set [console] metrics_port)",
                           adapters.settings.metrics_port, exc)
    logger.info("worker %s started (mode %s, business date %s)", owner, adapters.mode,
                business_date(clock.now()))
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    pool.submit(catch_up)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        logger.info("worker stopping")
        if exporter is not None:
            exporter.shutdown()
        scheduler.shutdown(wait=False)
        pool.shutdown(wait=True, cancel_futures=True)
        release_lock(adapters, owner)
        _runtime = None
