"""The console's own warehouse bill: a business day replayed on a virtual clock, in warehouse-awake minutes.

Everything runs in this process on 127.0.0.1 in a temporary data dir: the embedded warehouse server (with
its Snowflake-like change markers), a small demo history, and two adapter sets as the two processes of a
deployment: the worker's and the UI's, each with its own statement meter (``console/adapters/meter.py``)
stamping statements on the virtual clock. A third set plays the pipeline (the list tasks, the Genesys upload
and export): its statements are not the console's and are not counted.

The day (00:00 to 24:00 ET of one business date), each event at its virtual time, in order:
- the worker's real jobs (``console.worker``): the watch every ``watch_seconds`` (30 s) and the alert cycle
  every ``evaluate_minutes`` (3 min) all day; the reconciliations at 08:15, 09:05 and 23:00; the checks and
  alerts right after the run finishes and before the upload, as the worker does;
- N viewers on Home from 06:00 to 18:00, each refreshing every 30 s (Home's fragment), the N timers spread
  evenly over the 30 s; a refresh makes the reads of Home's fragment (``cached.status``, the open alerts, the
  worker's heartbeat) through the real ``st.cache_data`` caches, whose TTL clock
  (``cache_utils.TTLCACHE_TIMER``, exposed by Streamlit for tests) is the virtual clock; rendering sends no
  statement, so it is left out (a day of 20 viewers is 28,800 refreshes);
- the pipeline: the sources at 05:30; the 11 list tasks (the real task code) one after the other in DAG
  order from 06:05, 3.5 minutes apart (history days take 30-45 minutes); the run's record at 06:45; the
  Genesys upload at 08:30; the results export at 22:30.

Then the meters' ``compute`` statements (those that need a running warehouse) become warehouse-awake time by
Snowflake's rules (``console/cost.py``: 60 s minimum per resume, per second after, suspend 60 s or 300 s
after the last statement; each of the console's reads taken as 1 s on the warehouse).

"before" is the same code with ``[warehouse] read_when_changed = false`` and Snowpark's describe round trips
(every refresh whose cache expired reads the warehouse, as the console did before the change markers);
"after" is the shipped default. Figures only, no assertions.

Usage: python bench/bench_warehouse_cost.py [--viewers 1,20] [--accounts 5000]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import heapq
import importlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import warehouse_process

VIEW_FROM, VIEW_TO = "06:00", "18:00"
REFRESH_SECONDS = 30.0
TASK_GAP = dt.timedelta(minutes=3.5)
SUSPENDS = (60, 300)


def progress(message: str) -> None:
    print(f"[bench_warehouse_cost {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def quiet() -> None:
    from streamlit import config
    from streamlit import logger as st_logger

    importlib.import_module("fakesnow.server")  # it sets its logger to INFO at import
    for name in ("fakesnow.server", "snowflake", "console", "apscheduler"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    config.set_option("logger.level", "error")
    st_logger.set_log_level("error")


class VirtualClock:
    """The console's clock (``now()``) and the cache TTLs' clock (called), both on the replayed day."""

    def __init__(self, start: dt.datetime) -> None:
        self.moment = start

    def now(self) -> dt.datetime:
        return self.moment

    def __call__(self) -> float:
        return self.moment.timestamp()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", default="1,20", help="viewer counts to replay")
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--history-days", type=int, default=5)
    args = parser.parse_args()
    viewers = [int(n) for n in args.viewers.split(",")]
    quiet()
    os.environ["CONSOLE_METRICS_PORT"] = "0"
    for key in ("CONSOLE_SETTINGS", "CONSOLE_STATE_URL"):
        os.environ.pop(key, None)
    # The warehouse in its own process (as in a deployment), so that its work does not share this one's GIL.
    with warehouse_process("bench-cost-"):
        from console import demo
        from console.app import build_adapters
        from console.clock import at_et, business_days
        from console.settings import load_settings

        settings = dataclasses.replace(load_settings(), demo_accounts=args.accounts)
        first = business_days(dt.date.today() + dt.timedelta(days=1), dt.date.today() + dt.timedelta(days=30))
        plan = [(label, n) for label in ("before", "after") for n in viewers]
        days = first[:len(plan)]
        progress(f"seeding {args.history_days} business days of history before {days[0]} ({args.accounts:,} accounts)")
        pipeline = build_adapters(settings, "pipeline")
        demo.ensure_demo(pipeline, days=args.history_days, accounts=args.accounts, now=at_et(days[0], "05:00"))
        results = []
        for (label, n), day in zip(plan, days, strict=True):
            t0 = time.perf_counter()
            figures = replay(settings, day, n, before=label == "before")
            figures.update(label=label, viewers=n, day=day, seconds=time.perf_counter() - t0)
            results.append(figures)
            progress(f"{label}, {n} viewer(s), {day}: {figures['kinds']} in {figures['seconds']:.0f} s")
    report(results)


def replay(settings: Any, day: dt.date, viewers: int, before: bool) -> dict[str, Any]:
    import streamlit as st
    from streamlit.runtime.caching import cache_utils

    from console import cost, demo, facts, worker
    from console.adapters import local_engine
    from console.adapters.meter import Meter
    from console.app import build_adapters
    from console.clock import ET, at_et
    from console.ui import cached
    from jobs.demo.anomalies import ANOMALIES

    chosen = dataclasses.replace(settings, read_when_changed=not before)
    start = at_et(day, "00:00")
    clock = VirtualClock(start)
    sets = {}
    for process in ("ui", "worker", "pipeline"):
        adapters = build_adapters(chosen, process)
        adapters.warehouse.meter = Meter(process, now=clock.now)  # before any session is opened
        if process == "pipeline":
            adapters.warehouse.store = None  # not the console's statements: not written
        if before:
            factory = adapters.warehouse.factory
            adapters.warehouse.factory = _full_describe(factory)
        sets[process] = adapters
    ui, wk, pipe = sets["ui"], sets["worker"], sets["pipeline"]

    saved_timer, saved_now = cache_utils.TTLCACHE_TIMER, local_engine._now
    cache_utils.TTLCACHE_TIMER = clock
    local_engine._now = clock.now
    st.cache_data.clear()
    owner = f"bench-{day}"
    worker.acquire_lock(wk, owner, dt.datetime.now(dt.UTC))
    worker._runtime = worker._Runtime(wk, clock, owner, pool=None)  # type: ignore[arg-type]
    s = chosen.schedules
    events: list[tuple[dt.datetime, int, str, Any]] = []
    order = 0

    def at(moment: dt.datetime, what: str, action: Any) -> None:
        nonlocal order
        heapq.heappush(events, (moment, order, what, action))
        order += 1

    end = start + dt.timedelta(days=1)
    for moment in _every(start, end, dt.timedelta(seconds=s["watch_seconds"])):
        at(moment, "watch", worker.checks_if_changed)
    for moment in _every(start, end, dt.timedelta(minutes=chosen.alerts["evaluate_minutes"])):
        at(moment, "alerts", worker.evaluate_alerts)
    for hhmm in (s["pre_upload"], "09:05", "23:00"):
        at(at_et(day, hhmm), "reconcile", worker.reconcile)

    def viewer_refresh() -> None:
        status = cached.status(ui, day, clock)
        cached.open_alerts(ui)
        cached.worker(ui)
        cached.watchdog(ui, status)

    view_from, view_to = at_et(day, VIEW_FROM), at_et(day, VIEW_TO)
    for i in range(viewers):
        offset = dt.timedelta(seconds=i * REFRESH_SECONDS / viewers)
        for moment in _every(view_from + offset, view_to, dt.timedelta(seconds=REFRESH_SECONDS)):
            at(moment, "view", viewer_refresh)

    at(at_et(day, "05:30"), "pipeline", lambda: demo.prepare_day(pipe, day))
    keys = pipe.spec.topological_order()
    for i, key in enumerate(keys):
        at(at_et(day, "06:05") + i * TASK_GAP, "pipeline", lambda key=key: _run_task(pipe, day, key))

    def run_done() -> None:
        demo.record_history_runs(pipe, [day], seed_value=chosen.demo_seed, anomalies=ANOMALIES)
        worker.checks_if_changed()  # as the worker does right after its run
        worker.evaluate_alerts()

    at(at_et(day, "06:45"), "pipeline", run_done)

    def upload() -> None:
        worker.checks_if_changed()  # the worker judges the latest lists before the upload reads the gate
        demo.genesys_upload(pipe, day)

    at(at_et(day, s["genesys_upload"]), "pipeline", upload)
    at(at_et(day, s["results_export"]), "pipeline", lambda: demo.results_export(pipe, day))

    beat = time.monotonic()
    spent: dict[str, float] = {}
    hour = -1
    try:
        while events:
            moment, _, what, action = heapq.heappop(events)
            clock.moment = moment
            t0 = time.perf_counter()
            action()
            spent[what] = spent.get(what, 0.0) + time.perf_counter() - t0
            if moment.astimezone(ET).hour != hour and moment.astimezone(ET).hour % 3 == 0:
                hour = moment.astimezone(ET).hour
                progress(f"  {moment.astimezone(ET):%H:%M} ET; real seconds so far by event: "
                         + ", ".join(f"{k} {v:.0f}" for k, v in spent.items()))
            if time.monotonic() - beat > 5:  # the worker is alive for the UI's heartbeat check (real time)
                worker.heartbeat()
                beat = time.monotonic()
    finally:
        cache_utils.TTLCACHE_TIMER, local_engine._now = saved_timer, saved_now
        worker.release_lock(wk, owner)
        worker._runtime = None
        for adapters in (ui, wk):
            adapters.warehouse.meter.flush(adapters.store)

    # The same rows the Audit page reads: the meters wrote them to the state DB as the day went.
    statements = facts.warehouse_statement_rows(ui, start, end)
    usage = {suspend: cost.usage(statements, suspend) for suspend in SUSPENDS}
    per_process = {str(p): {str(k): int(n) for k, n in group.groupby("KIND").size().items()}
                   for p, group in statements.groupby("PROCESS")}
    return {"kinds": usage[60]["kinds"], "per_process": per_process,
            "awake": {suspend: u["awake"] for suspend, u in usage.items()}}


def _every(start: dt.datetime, end: dt.datetime, step: dt.timedelta) -> list[dt.datetime]:
    moments, moment = [], start
    while moment < end:
        moments.append(moment)
        moment += step
    return moments


def _full_describe(factory: Any) -> Any:
    def opened() -> Any:
        session = factory()
        session.reduce_describe_query_enabled = False
        return session

    return opened


def _run_task(adapters: Any, day: dt.date, key: str) -> None:
    """One list task of the workflow, as the engine runs it (the real task module on the warehouse)."""
    module = importlib.import_module(adapters.spec.task(key).module)
    with adapters.warehouse.session() as session:
        module.run(adapters.task_context(session, day, key))


def report(results: list[dict[str, Any]]) -> None:
    print("\n# The console's warehouse use over one business day (bench/bench_warehouse_cost.py)\n")
    print("| code | viewers | statements: compute / result cache / metadata | by process (compute) "
          "| resumes (60 s) | awake min, suspend 60 s | awake min, suspend 300 s | replay s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        k, a = r["kinds"], r["awake"]
        by = ", ".join(f"{p} {t.get('compute', 0)}" for p, t in r["per_process"].items())
        print(f"| {r['label']} | {r['viewers']} | {k['compute']:,} / {k['result_cache']:,} / {k['metadata']:,} "
              f"| {by} | {a[60].resumes} | {a[60].billed_minutes:.1f} | {a[300].billed_minutes:.1f} "
              f"| {r['seconds']:.0f} |")
    by = {(r["label"], r["viewers"]): r for r in results}
    for n in sorted({r["viewers"] for r in results}):
        if ("before", n) in by and ("after", n) in by:
            b, a = by[("before", n)]["awake"][60], by[("after", n)]["awake"][60]
            ratio = b.billed_minutes / max(a.billed_minutes, 1e-9)
            print(f"\n{n} viewer(s), suspend 60 s: before/after awake minutes = "
                  f"{b.billed_minutes:.1f}/{a.billed_minutes:.1f} = {ratio:.1f}x")
    after = sorted((r for r in results if r["label"] == "after"), key=lambda r: r["viewers"])
    if len(after) >= 2:
        lo, hi = after[0]["awake"][60].billed_minutes, after[-1]["awake"][60].billed_minutes
        print(f"after: awake minutes with {after[-1]['viewers']} viewers / with {after[0]['viewers']} = "
              f"{hi / max(lo, 1e-9):.2f}")


if __name__ == "__main__":
    main()
