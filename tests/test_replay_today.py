"""Today, as it would have happened: a demo started after the day's run would have ended builds that day
like a history day (real list jobs, the duration model's times, the 08:30 upload) instead of running it
live at this hour; before 06:00 the day is left for the 06:00 schedule; a person's action stays live.

Each test starts the real stack (embedded warehouse, state DB, a small demo seeded by ``ensure_demo``) on a
fresh data dir, and the worker as ``make run`` starts it, on a frozen clock.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from snowflake.snowpark import functions as F

from console import demo, status, worker
from console.adapters.protocols import Adapters
from console.clock import ET, FrozenClock, at_et
from console.store import alerts as alerts_table
from console.store import job_events, runs
from console.timeline import AT_RISK, FAILED, LATE
from tests.test_pages import embedded_stack

pytestmark = pytest.mark.warehouse

DAY = dt.date(2026, 11, 24)  # a Tuesday; its history is the five business days before
SMALL = {"days": 5, "accounts": 1000}


@pytest.fixture
def adapters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Adapters]:
    monkeypatch.setenv("CONSOLE_METRICS_PORT", "0")  # no /metrics port to collide with another test's
    with embedded_stack(tmp_path / "data") as (built, _):
        yield built


@contextmanager
def running_worker(adapters: Adapters, at: dt.datetime, done: dict[str, int]) -> Iterator[None]:
    """``run_worker`` on a clock frozen at ``at``, as ``make run`` starts it; yields once ``done`` (job name: how
    many finished job events of it there are to be), and stops it when the block ends."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_worker, args=(adapters, FrozenClock(at), stop), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 180
        while not all(finished(adapters, job) >= count for job, count in done.items()):
            assert thread.is_alive() and time.monotonic() < deadline, f"the worker did not finish {done}: " \
                                                                      f"{events(adapters)}"
            time.sleep(0.2)
        yield
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()


def events(adapters: Adapters) -> list[tuple[str, str, str]]:
    with adapters.store.connect() as conn:
        return [(r.job, r.status, r.message) for r in conn.execute(sa.select(job_events).order_by(job_events.c.id))]


def finished(adapters: Adapters, job: str) -> int:
    return sum(1 for name, state, _ in events(adapters) if name == job and state != "running")


def runs_of(adapters: Adapters, day: dt.date) -> list[sa.Row]:
    with adapters.store.connect() as conn:
        return conn.execute(sa.select(runs).where(runs.c.business_date == day)).all()


def warehouse_rows(adapters: Adapters, day: dt.date) -> dict[str, list[tuple]]:
    """The day's lists (per task: rows, GENERATED_AT), import log and results, as comparable tuples."""
    tables = adapters.settings.tables
    on_day = F.col("BUSINESS_DATE") == F.lit(day)
    with adapters.warehouse.session() as session:
        lists = (session.table(tables.outbound_lists).filter(on_day).group_by("TASK_KEY")
                 .agg(F.count(F.lit(1)).alias("N"), F.min("GENERATED_AT").alias("FIRST"),
                      F.max("GENERATED_AT").alias("LAST")).collect())
        imports = session.table(tables.import_log).filter(on_day).select(
            "LIST_NAME", "RECORDS_SENT", "STARTED_AT", "FINISHED_AT").collect()
        results = session.table(tables.campaign_results).filter(on_day).select(
            F.count(F.lit(1)).alias("N"), F.min("INGESTED_AT").alias("FIRST")).collect()
    return {"lists": sorted(tuple(r) for r in lists), "imports": sorted(tuple(r) for r in imports),
            "results": [tuple(r) for r in results]}


def et(naive_utc: dt.datetime) -> dt.datetime:
    return naive_utc.replace(tzinfo=dt.UTC).astimezone(ET)


def test_a_start_at_1930_builds_today_once_as_scheduled_and_a_person_still_reruns_live(adapters: Adapters) -> None:
    evening = at_et(DAY, "19:30")
    demo.ensure_demo(adapters, now=evening, **SMALL)
    assert runs_of(adapters, DAY) == []
    # The calendar that Home lists is the one the replay reads: of five days, only the missing export lands.
    placed = {a.kind: d for d, a in demo.anomaly_dates(adapters) if d is not None}
    assert list(placed) == ["missing_export"] and demo.anomaly_on(adapters, DAY) is None
    assert demo.anomaly_on(adapters, placed["missing_export"]).kind == "missing_export"

    with running_worker(adapters, evening, {"workflow": 1, "alerts": 1}):
        pass
    (run,) = runs_of(adapters, DAY)
    assert (run.source, run.trigger, run.requested_by) == (demo.REPLAY_SOURCE, "SCHEDULE", demo.REPLAY_REQUESTER)
    replayed = adapters.engine.get_run(run.run_id)
    assert replayed.state.value == "succeeded"
    start, end = replayed.start.astimezone(ET), replayed.end.astimezone(ET)
    assert at_et(DAY, "06:00") <= start <= at_et(DAY, "06:01")
    assert at_et(DAY, "06:30") <= end <= at_et(DAY, "06:50")  # the guide's 30-45 minutes
    assert all(at_et(DAY, "06:00") <= t.start < t.end <= end for t in replayed.attempts)
    assert len(replayed.attempts) == len(adapters.spec.tasks)

    first = warehouse_rows(adapters, DAY)
    stamps = {task: (et(low), et(high)) for task, _, low, high in first["lists"]}
    for task in replayed.tasks:  # each list carries its task's modelled finish
        short = adapters.spec.task(task.task_key).short_key
        if short in stamps:
            assert stamps[short] == (task.end.astimezone(ET),) * 2
    assert {"BI-737", "BI-813", "DI-986", "BI-820"} <= set(stamps)
    assert first["imports"] and all(at_et(DAY, "08:30") <= et(started) < et(ended) <= at_et(DAY, "09:00")
                                    for _, _, started, ended in first["imports"])
    assert first["results"][0][0] == 0  # 22:30 has not come yet

    day = status.day_status(adapters, DAY, FrozenClock(evening + dt.timedelta(minutes=1)))
    assert (day.overall.state, day.overall.reason) == ("on_track", "Campaign results exported next, due 22:30 ET. "
                                                                   "Not yet due."), day.overall
    assert not [m.name for m in day.milestones if m.status in (LATE, AT_RISK, FAILED)]
    with adapters.store.connect() as conn:
        assert conn.execute(sa.select(alerts_table).where(alerts_table.c.business_date == DAY)).all() == []

    # A second start (23:00): the run and the upload stand; the worker's catch-up does the 22:30 export.
    with running_worker(adapters, at_et(DAY, "23:00"), {"results_export": 1}):
        pass
    assert [r.run_id for r in runs_of(adapters, DAY)] == [run.run_id]
    second = warehouse_rows(adapters, DAY)
    assert (second["lists"], second["imports"]) == (first["lists"], first["imports"])
    (count, landed), = second["results"]
    assert count > 0 and at_et(DAY, "22:30") <= et(landed) <= at_et(DAY, "23:00")
    assert finished(adapters, "workflow") == 1

    # A person's rerun of that run is live: real times, inside the same run.
    asked = dt.datetime.now(dt.UTC)
    adapters.engine.submit("repair", "eng@example.com", "test-rerun", run_id=run.run_id, task_keys=["BI-737"])
    adapters.engine.process_requests()
    rerun = adapters.engine.get_run(run.run_id)
    assert len(rerun.repairs) == 1
    live = [a for a in rerun.attempts if a.repair_id is not None]
    assert live and all(a.start >= asked - dt.timedelta(seconds=1) for a in live)
    assert rerun.state.value == "succeeded"


def test_a_start_at_0530_leaves_today_to_the_0600_schedule_and_run_now_is_live(adapters: Adapters) -> None:
    early = at_et(DAY, "05:30")
    demo.ensure_demo(adapters, now=early, **SMALL)
    worker._runtime = worker._Runtime(adapters, FrozenClock(early), "test:1", None)  # type: ignore[arg-type]
    try:
        worker.catch_up()
        assert runs_of(adapters, DAY) == []
        assert warehouse_rows(adapters, DAY)["lists"] == []
        worker.prepare_sources()  # the 05:30 job: the day's loan tape and SFTP drop land
    finally:
        worker._runtime = None
    # At 06:00 the day's run is still to come: the schedule runs it live (a replay would be in the future).
    assert not demo.replayable(adapters, DAY, at_et(DAY, "06:00") + dt.timedelta(seconds=30))
    assert demo.replayable(adapters, DAY, at_et(DAY, "07:00"))

    asked = dt.datetime.now(dt.UTC)
    adapters.engine.submit("trigger", "ops@example.com", "test-run-now", business_date=DAY)
    adapters.engine.process_requests()
    (run,) = runs_of(adapters, DAY)
    assert (run.source, run.trigger, run.requested_by) == ("engine", "MANUAL", "ops@example.com")
    assert run.start_time >= asked - dt.timedelta(seconds=1)  # real time: a live run
    assert not demo.replayable(adapters, DAY, at_et(DAY, "19:30"))  # the day has its run: never replayed
    assert warehouse_rows(adapters, DAY)["lists"]
