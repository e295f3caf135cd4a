"""Build the demo warehouse: a seeded portfolio, its loan tape, feeds, and the lists of every history day.

``build_warehouse`` creates the whole history for a range of business days in a few set-based passes: the
REAL task code of the workflow runs once per task over the whole range, then the Genesys simulator, then
the anomalies of ``jobs.demo.anomalies`` are applied. ``prepare_day`` delivers what the upstream feeds
deliver before 06:00 on a new day. Same seed and same dates give the same data.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from snowflake.snowpark import Window
from snowflake.snowpark import functions as F

from jobs.business_calendar import business_days, is_business_day, last_business_days, previous_business_day
from jobs.common import et_to_utc, hash_bucket, load_frame, stamped_backfill, values_frame
from jobs.context import TaskContext
from jobs.demo import genesys, portfolio, sftp, suppressions
from jobs.demo.anomalies import by_kind
from jobs.schema import create_tables

if TYPE_CHECKING:
    from snowflake.snowpark import DataFrame, Session

    from jobs.demo import DemoConfig, DemoWorkflow
    from jobs.tables import TableNames

logger = logging.getLogger(__name__)

SHORT_LIST_SHARE = 0.40  # the share of accounts missing from the partial tape on the short_list day
WORKFLOW_START = "06:00"
LATE_START = "06:52"  # the late_run anomaly (kept in step with its description)
REPAIRED_AT = "07:41"  # the failed_task anomaly's repair
# Median minutes per task on Databricks (i3.xlarge, 2-8 workers) and the cluster start, as console.demo models
# the backfilled runs' records.
TASK_MINUTES = {"BI-2482": 14.0, "BI-2584": 1.0, "BI-2609": 4.0, "BI-737": 9.0, "BI-813": 5.0, "DI-862": 6.0,
                "DI-749": 7.0, "DI-986": 10.0, "BI-820": 5.0, "DI-1049": 3.0, "DI-977": 6.0}
CLUSTER_START_MINUTES = 4.5


def anomaly_day(dates: Sequence[dt.date], days_ago: int) -> dt.date | None:
    """The business day ``days_ago`` business days before the last of ``dates`` (None if out of range)."""
    return dates[-1 - days_ago] if days_ago < len(dates) else None


def run_tasks(session: Session, settings: DemoConfig, spec: DemoWorkflow, first: dt.date, last: dt.date,
              progress: Callable[[str], None] = lambda msg: None) -> dict:
    """Run every task of the workflow ``spec`` once, in DAG order, over the business days ``first..last``."""
    results = {}
    for key in spec.topological_order():
        task = spec.task(key)
        started = time.perf_counter()
        ctx = TaskContext(session=session, business_date=last, tables=settings.tables,
                          sftp_outbox=settings.sftp_outbox, sftp_inbox=settings.sftp_inbox, task_key=key,
                          start_date=first)
        results[task.short_key] = importlib.import_module(task.module).run(ctx)
        progress(f"{task.short_key}: {results[task.short_key].get('rows', 0):,} rows "
                 f"({time.perf_counter() - started:.1f} s)")
    return results


def run_day(session: Session, settings: DemoConfig, spec: DemoWorkflow, day: dt.date,
            finished: dict[str, dt.datetime], progress: Callable[[str], None] = lambda msg: None) -> dict:
    """Run every task of ``spec`` for ``day`` alone, each list stamped with its task's finish in ``finished``
    (short key to naive UTC): the lists as the scheduled run those times describe would have written them."""

    def stamps(task_key: str) -> DataFrame:
        return values_frame(session, [("BUSINESS_DATE", "DATE"), ("STAMP_AT", "TIMESTAMP_NTZ")],
                            [(day, finished[task_key])])

    with stamped_backfill(stamps):
        return run_tasks(session, settings, spec, day, day, progress)


def build_warehouse(session: Session, settings: DemoConfig, spec: DemoWorkflow, days: list[dt.date],
                    progress: Callable[[str], None] = lambda msg: None) -> dict:
    """Create the tables and the demo history for the business days ``days[0]..days[-1]`` (replacing any),
    running the tasks of the workflow ``spec``."""
    tables, seed = settings.tables, settings.demo_seed
    dates = business_days(min(days), max(days))
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def done(step: str, message: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now
        progress(f"{message} ({timings[step]:.1f} s)")

    create_tables(session, tables, replace=True)
    done("tables", "tables created")

    start = portfolio.start_date(dates[0])
    accounts = portfolio.generate_accounts(seed, settings.demo_accounts, start)
    load_frame(session, accounts, tables.accounts, mode="overwrite")
    done("accounts", f"{len(accounts):,} accounts")

    state = portfolio.write_initial_tape(session, tables, seed, accounts, start)
    tape = portfolio.extend(session, tables, seed, state, start, dates[-1])
    done("loan_tape", f"loan tape {start} to {dates[-1]}: {tape['changes']:,} changes in {tape['loads'] + 1} loads")

    ids = accounts["ACCOUNT_ID"].to_numpy()
    initial = suppressions.initial_suppressions(seed, ids, start)
    load_frame(session, initial, tables.suppressions, mode="overwrite")
    daily = suppressions.add_daily_suppressions(session, tables, seed, ids, start, dates[-1])
    genesys.write_config(session, tables, et_to_utc(start, "10:00"))
    done("suppressions_config", f"{len(initial) + daily:,} suppressions, Genesys config")

    sftp.write_drops(session, tables, seed, dates, settings.sftp_inbox)
    done("sftp", f"{len(dates)} SFTP non-openers files")

    stamps = _history_stamps(spec, dates)
    with stamped_backfill(lambda task_key: values_frame(
            session, [("BUSINESS_DATE", "DATE"), ("STAMP_AT", "TIMESTAMP_NTZ")], stamps[task_key])):
        tasks = run_tasks(session, settings, spec, dates[0], dates[-1], progress)
    done("tasks", f"{len(tasks)} tasks over {len(dates)} business days")

    short = _apply_short_list(session, tables, seed, dates)
    done("short_list", "short-list anomaly")

    upload = genesys.upload(session, tables, dates)
    done("genesys_upload", f"Genesys imports: {upload['records_sent']:,} records")
    export = genesys.export(session, tables, dates)
    done("genesys_export", f"Genesys results: {export['results']:,} rows")

    missing = _apply_missing_export(session, tables, dates)
    done("anomalies", "missing-export anomaly")
    total = round(sum(timings.values()), 3)
    progress(f"demo warehouse ready: {len(dates)} business days, {len(accounts):,} accounts ({total:.1f} s)")
    return {"first_date": dates[0].isoformat(), "business_date": dates[-1].isoformat(), "days": len(dates),
            "accounts": len(accounts), "tape_start": start.isoformat(), "tape_changes": tape["changes"],
            "tasks": tasks, "genesys_upload": upload, "genesys_export": export,
            "anomalies": {"short_list": short, "missing_export": missing}, "timings": timings, "seconds": total}


def prepare_day(session: Session, settings: DemoConfig, day: dt.date) -> dict:
    """What the upstream feeds deliver before 06:00 on ``day``: the loan tape through ``day`` (with the
    suppressions that started since the last load) and, on a business day, the SFTP non-openers file.
    Idempotent."""
    tables, seed = settings.tables, settings.demo_seed
    stored = portfolio.stored_state(session, tables)
    if stored is None:
        raise RuntimeError("The demo warehouse has no loan tape yet: seed it first (python -m console seed).")
    state, last_as_of = stored
    through = day if is_business_day(day) else previous_business_day(day)
    new_suppressions = 0
    tape = {"loads": 0, "changes": 0}
    if through > last_as_of:
        new_suppressions = suppressions.add_daily_suppressions(
            session, tables, seed, state.account_id, last_as_of + dt.timedelta(days=1), through)
        tape = portfolio.extend(session, tables, seed, state, last_as_of, through)
    drop = sftp.write_drops(session, tables, seed, [day], settings.sftp_inbox)[0] if is_business_day(day) else None
    return {"day": day.isoformat(), "tape_loads": tape["loads"], "tape_changes": tape["changes"],
            "suppressions": new_suppressions, "sftp_file": str(drop) if drop else None}


def _apply_short_list(session: Session, tables: TableNames, seed: int, dates: Sequence[dt.date]) -> dict | None:
    """The short_list anomaly on its day of ``dates``."""
    for anomaly in by_kind("short_list"):
        day = anomaly_day(dates, anomaly.days_ago)
        if day is not None:
            return shorten_list(session, tables, seed, day, anomaly.subject)
    return None


def shorten_list(session: Session, tables: TableNames, seed: int, day: dt.date, list_name: str) -> dict:
    """The short_list anomaly: ``day``'s tape arrived partial (its loan_tape_loads row shows it) and the list
    ``list_name`` holds only the accounts the partial tape had (priorities renumbered)."""
    kept = 1 - SHORT_LIST_SHARE
    session.sql(f"UPDATE {tables.loan_tape_loads} SET ACCOUNTS = ROUND(ACCOUNTS * {kept}), "
                f"CHANGES = ROUND(CHANGES * {kept}) WHERE AS_OF_DATE = '{day}'").collect()
    lists = session.table(tables.outbound_lists)
    that_list = (F.col("BUSINESS_DATE") == F.lit(day)) & (F.col("LIST_NAME") == list_name)
    missing = hash_bucket("ACCOUNT_ID", modulo=100, salt=f"partial-tape-{seed}") < round(SHORT_LIST_SHARE * 100)
    before = lists.filter(that_list).count()
    lists.delete(that_list & missing)
    renumbered = lists.filter(that_list).select(
        F.col("ACCOUNT_ID").alias("KEPT_ACCOUNT_ID"),
        F.row_number().over(Window.order_by("PRIORITY")).alias("NEW_PRIORITY"))
    lists.update({"PRIORITY": renumbered["NEW_PRIORITY"]},
                 that_list & (lists["ACCOUNT_ID"] == renumbered["KEPT_ACCOUNT_ID"]), renumbered)
    after = lists.filter(that_list).count()
    return {"day": day.isoformat(), "list": list_name, "rows_before": int(before), "rows_after": int(after)}


def _apply_missing_export(session: Session, tables: TableNames, dates: Sequence[dt.date]) -> dict | None:
    """The missing_export anomaly: that day's results never landed."""
    for anomaly in by_kind("missing_export"):
        day = anomaly_day(dates, anomaly.days_ago)
        if day is None:
            continue
        session.table(tables.campaign_results).delete(F.col("BUSINESS_DATE") == F.lit(day))
        return {"day": day.isoformat()}
    return None


def _history_stamps(spec: DemoWorkflow, dates: Sequence[dt.date]) -> dict[str, list[tuple[dt.date, dt.datetime]]]:
    """GENERATED_AT per task and date as a scheduled run would have written it: 06:00 ET plus the task's
    place in the DAG, with the late_run and failed_task anomalies' delays (the console records those runs)."""
    late = {anomaly_day(dates, a.days_ago) for a in by_kind("late_run")}
    failed = {anomaly_day(dates, a.days_ago): a.subject for a in by_kind("failed_task")}
    finish_minutes = _finish_minutes(spec)
    stamps: dict[str, list[tuple[dt.date, dt.datetime]]] = {key: [] for key in finish_minutes}
    for day in dates:
        start = et_to_utc(day, LATE_START if day in late else WORKFLOW_START)
        jitter = dt.timedelta(seconds=int(np.random.default_rng([day.toordinal(), 8]).integers(0, 240)))
        delayed: set[str] = set()
        if day in failed:
            delayed = {spec.task(k).short_key for k in spec.descendants([spec.task(failed[day]).key])}
        for short_key, minutes in finish_minutes.items():
            moment = start + dt.timedelta(minutes=minutes) + jitter
            if short_key in delayed:
                after_repair = minutes - finish_minutes[failed[day]] + 3
                moment = et_to_utc(day, REPAIRED_AT) + dt.timedelta(minutes=after_repair) + jitter
            stamps[short_key].append((day, moment))
    return stamps


def _finish_minutes(spec: DemoWorkflow) -> dict[str, float]:
    """Minutes after the workflow start at which each task typically finishes (about 45 minutes in all):
    cluster start, then each task's median on Databricks after its slowest dependency (as console.demo)."""
    finish: dict[str, float] = {}
    for key in spec.topological_order():
        task = spec.task(key)
        ready = max((finish[spec.task(d).short_key] for d in task.depends_on), default=CLUSTER_START_MINUTES)
        finish[task.short_key] = ready + TASK_MINUTES.get(task.short_key, 5.0)
    return finish


def default_history(settings: DemoConfig, today: dt.date) -> list[dt.date]:
    """The business days a fresh demo seeds: ``[demo] history_days`` days ending the business day before
    ``today`` (today's lists are left for the worker's 06:00 run)."""
    return last_business_days(previous_business_day(today), settings.demo_history_days)
