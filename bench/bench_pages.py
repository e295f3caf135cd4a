"""Status pages: script time with warm caches, and engine reads per 30 s with 1, 5 and 20 sessions.

Builds a stack in a temporary data dir, all in this process and on 127.0.0.1: the embedded warehouse
server, a small demo warehouse (``--accounts`` accounts, ``--warehouse-days`` business days: the pages only
read the chosen day's lists), and engine history (run and task-run records in the state DB) covering
``--history-days`` business days (``ensure_demo`` for the seeded days, ``record_history_runs`` for the
older ones, with the demo anomalies). On a business day, today's workflow is run through the engine and
the Genesys upload simulated, so today's page has a run and lists, as it would at mid-morning.

(a) For each status page (Home, Timeline, Workflow): one warm-up ``AppTest`` run, then ``--runs`` timed
    reruns of the same instance with nothing cleared (warm caches); median, p90 and max in ms beside the
    target, and AppTest's own floor (an empty script rerun) for scale.
(b) Engine reads per 30 s: N sessions are N ``AppTest`` instances of Home.py in this process (so
    ``st.cache_data`` is shared between them, as between browser tabs of one server). Each session
    refreshes every 30 s (Home's ``st.fragment(run_every="30s")``; in AppTest a run is the whole script),
    the N timers spread evenly over the 30 s. Nothing sleeps: the clock of the cache TTLs
    (``streamlit.runtime.caching.cache_utils.TTLCACHE_TIMER``, exposed by Streamlit for tests) is replaced
    by a virtual one that the simulation moves to each refresh's moment, so TTLs shorter or longer than
    30 s count as they would. ``LocalEngine.reads`` (one per state-store connection made for reads) is
    summed per 30 s window over ``--reads-minutes`` of simulated time, caches cold at the start; the
    adapter set (a ``cache_resource``) stays.

Issue targets: (a) median within 150 ms per page over 20 runs on 365 days of history; (b) the same count
of reads for 1, 5 and 20 sessions. Figures only, no assertions (the machine is shared and noisy).
Usage: python bench/bench_pages.py [--accounts 20000] [--history-days 365] [--runs 20] [--sessions 1,5,20]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._util import ROOT, free_port

STATUS_PAGES = ["Home.py", "pages/1_Timeline.py", "pages/2_Workflow.py"]
TARGET_MS = 150.0
REFRESH_SECONDS = 30  # Home's st.fragment(run_every="30s")


def quiet() -> None:
    """Keep stderr to the bench's progress: the in-process server logs every query, AppTest warns per run.

    Streamlit sets the level of its own loggers and of uvicorn's (which the in-process warehouse server
    uses) from its ``logger.level`` option, set here in this process only. ``client.showErrorDetails``
    is "none" in .streamlit/config.toml; here "full", so that a page's exception is reported with its text.
    """
    import importlib
    import logging
    import warnings

    from streamlit import config
    from streamlit import logger as st_logger

    importlib.import_module("fakesnow.server")  # it sets its logger to INFO at import
    logging.getLogger("fakesnow.server").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="fakesnow")
    config.set_option("logger.level", "error")
    config.set_option("client.showErrorDetails", "full")
    st_logger.set_log_level("error")


def progress(message: str) -> None:
    print(f"[bench_pages {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--history-days", type=int, default=365, help="business days of engine run history")
    parser.add_argument("--warehouse-days", type=int, default=5, help="business days of warehouse (list) data")
    parser.add_argument("--runs", type=int, default=20, help="timed reruns per page")
    parser.add_argument("--sessions", default="1,5,20", help="session counts for the reads figure")
    parser.add_argument("--reads-page", default="Home.py", help="the page the sessions watch")
    parser.add_argument("--reads-minutes", type=float, default=10, help="simulated minutes per session count")
    args = parser.parse_args()
    sessions = [int(n) for n in args.sessions.split(",")]
    quiet()

    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        data = Path(tmp)
        port = free_port()
        # The settings the pages load (cached_adapters -> load_settings) come from the environment.
        os.environ.update(CONSOLE_DATA_DIR=str(data), CONSOLE_WAREHOUSE_PORT=str(port),
                          CONSOLE_SECRETS=str(data / "no-secrets.toml"))
        for key in ("CONSOLE_SETTINGS", "CONSOLE_STATE_URL"):
            os.environ.pop(key, None)

        from console.adapters.embedded_warehouse import WarehouseServer
        from console.app import build_adapters
        from console.settings import load_settings

        settings = dataclasses.replace(load_settings(), demo_accounts=args.accounts)
        server = WarehouseServer(settings)
        server.start()
        try:
            started = time.perf_counter()
            facts = build_stack(build_adapters(settings), args)
            facts["stack_seconds"] = time.perf_counter() - started
            timings = time_pages(args.runs)
            reads = count_reads(sessions, args.reads_page, args.reads_minutes)
        finally:
            server.stop()
    report(args, facts, timings, reads)


# ------------------------------------------------------------------------------------------------ the stack
def build_stack(adapters: Any, args: argparse.Namespace) -> dict[str, Any]:
    import sqlalchemy as sa

    from console import demo
    from console.clock import ET, SystemClock, business_date, is_business_day, last_business_days
    from console.store import runs, task_runs
    from jobs.demo.anomalies import ANOMALIES

    now = SystemClock().now()
    end = demo.history_end(now)
    progress(f"seeding the warehouse: {args.accounts:,} accounts x {args.warehouse_days} business days")
    message = demo.ensure_demo(adapters, progress=lambda m: progress(f"  {m}"), days=args.warehouse_days,
                               accounts=args.accounts, now=now)
    progress(message)
    history = last_business_days(end, args.history_days)
    written = demo.record_history_runs(adapters, history, seed_value=adapters.settings.demo_seed,
                                       anomalies=ANOMALIES)
    progress(f"engine history: {written} older runs recorded, {history[0]} to {history[-1]}")

    today = business_date(now)
    today_note = f"{today}: no run (not a business day)"
    if is_business_day(now.astimezone(ET).date()) and today > end:
        t0 = time.perf_counter()
        demo.prepare_day(adapters, today)
        run = adapters.engine.execute(adapters.engine.trigger(today, "bench").run_id)
        demo.genesys_upload(adapters, today)
        today_note = f"{today}: workflow run {run.state.value} through the engine, Genesys upload simulated"
        progress(f"today {today_note} ({time.perf_counter() - t0:.1f} s)")

    with adapters.store.connect() as conn:
        n_runs = conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar()
        n_tasks = conn.execute(sa.select(sa.func.count()).select_from(task_runs)).scalar()
        first, last = conn.execute(sa.select(sa.func.min(runs.c.business_date),
                                             sa.func.max(runs.c.business_date))).one()
    return {"runs": n_runs, "task_runs": n_tasks, "first": first, "last": last, "today": today_note}


# ------------------------------------------------------------------------------------------------ (a) timings
def app(page: str) -> Any:
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / page), default_timeout=30)


def problems(at: Any) -> list[str]:
    """Exceptions, and error messages other than the worker being down (no worker runs in the bench)."""
    found = [f"exception: {str(e.value)[:200]} at {(e.stack_trace or ['?'])[-1].strip()[:200]}"
             for e in at.exception]
    found += [f"error: {str(e.value)[:200]}" for e in at.error if not str(e.value).startswith("Worker down")]
    return found


def time_pages(runs: int) -> dict[str, dict[str, Any]]:
    from streamlit.testing.v1 import AppTest

    results: dict[str, dict[str, Any]] = {}
    floor = AppTest.from_string("import streamlit as st\nst.write('x')", default_timeout=30).run()
    floor_ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        floor.run()
        floor_ms.append((time.perf_counter() - t0) * 1000)
    results["(AppTest floor: an empty script)"] = {"ms": floor_ms, "problems": [], "warmup_ms": float("nan"),
                                                   "reads": float("nan")}

    for page in STATUS_PAGES:
        progress(f"{page}: warm-up run, then {runs} timed reruns")
        t0 = time.perf_counter()
        try:
            at = app(page).run()
        except Exception as exc:  # a page mid-edit may not even load
            results[page] = {"ms": [], "problems": [f"raised: {type(exc).__name__}: {exc}"], "warmup_ms": float("nan"),
                             "reads": float("nan")}
            continue
        warmup = (time.perf_counter() - t0) * 1000
        seen = problems(at)
        times = []
        engine = engine_of_pages()
        engine.reads = 0
        try:
            for _ in range(runs):
                t0 = time.perf_counter()
                at.run()
                times.append((time.perf_counter() - t0) * 1000)
                seen += [p for p in problems(at) if p not in seen]
        except Exception as exc:
            seen.append(f"raised: {type(exc).__name__}: {exc}")
        results[page] = {"ms": times, "problems": seen, "warmup_ms": warmup,
                         "reads": engine.reads / len(times) if times else float("nan")}
    return results


def engine_of_pages() -> Any:
    """The engine of the pages' own adapter set (``cached_adapters`` is a process-wide cache_resource)."""
    from console.ui.frame import cached_adapters

    return cached_adapters().engine


def summary(ms: list[float]) -> tuple[float, float, float]:
    if not ms:
        return float("nan"), float("nan"), float("nan")
    p90 = statistics.quantiles(ms, n=10, method="inclusive")[8] if len(ms) > 1 else ms[0]
    return statistics.median(ms), p90, max(ms)


# ------------------------------------------------------------------------------------------------ (b) reads
class VirtualClock:
    """The clock of ``st.cache_data``'s TTLs (``cache_utils.TTLCACHE_TIMER``, which Streamlit exposes for
    tests), frozen and moved by the simulation: minutes of refreshes without waiting for them."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return 1_000_000.0 + self.now


def count_reads(sessions: list[int], page: str, minutes: float) -> dict[int, dict[str, Any]]:
    import streamlit as st
    from streamlit.runtime.caching import cache_utils

    windows = max(1, int(minutes * 60 // REFRESH_SECONDS))
    out: dict[int, dict[str, Any]] = {}
    for n in sessions:
        progress(f"reads: {n} session(s) of {page}, {windows} refreshes each over {windows * REFRESH_SECONDS} s "
                 "of simulated time")
        apps = [app(page).run() for _ in range(n)]  # each session's first load (not counted)
        engine = engine_of_pages()
        # Session i refreshes at i*30/n + k*30 s: the sessions' 30 s timers, spread evenly.
        events = sorted((k * REFRESH_SECONDS + i * REFRESH_SECONDS / n, i) for i in range(n) for k in range(windows))
        per_window = [0] * windows
        clock, saved = VirtualClock(), cache_utils.TTLCACHE_TIMER
        cache_utils.TTLCACHE_TIMER = clock
        t0 = time.perf_counter()
        try:
            st.cache_data.clear()  # the caches are made again, on the virtual clock, and start cold
            engine.reads = 0
            for moment, i in events:
                clock.now = moment
                before = engine.reads
                apps[i].run()
                per_window[int(moment // REFRESH_SECONDS)] += engine.reads - before
        finally:
            cache_utils.TTLCACHE_TIMER = saved
            st.cache_data.clear()
        seen: list[str] = []
        for at in apps:
            seen += [p for p in problems(at) if p not in seen]
        out[n] = {"mean": sum(per_window) / windows, "first": per_window[0], "min": min(per_window[1:] or per_window),
                  "max": max(per_window[1:] or per_window), "renders": len(events),
                  "seconds": time.perf_counter() - t0, "problems": seen}
    return out


# ------------------------------------------------------------------------------------------------ report
def report(args: argparse.Namespace, facts: dict[str, Any], timings: dict[str, dict[str, Any]],
           reads: dict[int, dict[str, Any]]) -> None:
    print(f"stack: {args.accounts:,} accounts, warehouse {args.warehouse_days} business days; engine history "
          f"{facts['runs']} runs / {facts['task_runs']} task runs, {facts['first']} to {facts['last']} "
          f"({args.history_days} business days asked); today {facts['today']}; built in "
          f"{facts['stack_seconds']:.1f} s")
    print(f"\n(a) script run with warm caches, {args.runs} AppTest reruns after one warm-up "
          f"(target: median <= {TARGET_MS:.0f} ms); times in ms; reads/run = engine reads per rerun")
    print(f"  {'page':34} {'warm-up':>8} {'median':>8} {'p90':>8} {'max':>8} {'reads/run':>9}  within target")
    for page, result in timings.items():
        median, p90, worst = summary(result["ms"])
        verdict = "" if page.startswith("(") else ("yes" if median <= TARGET_MS else "NO")
        if not result["ms"]:
            verdict = "not measured"
        reads_run = "" if page.startswith("(") else f"{result['reads']:.1f}"
        warmup = "-" if result["warmup_ms"] != result["warmup_ms"] else f"{result['warmup_ms']:.0f}"  # NaN: none
        print(f"  {page:34} {warmup:>8} {median:8.0f} {p90:8.0f} {worst:8.0f} {reads_run:>9}  {verdict}")
        for problem in result["problems"]:
            print(f"      ! {problem}")
    print(f"\n(b) engine reads per {REFRESH_SECONDS} s, {args.reads_page}: each session refreshes every "
          f"{REFRESH_SECONDS} s (timers spread evenly), {args.reads_minutes:g} min of simulated cache time, caches "
          "cold at the start (target: the same count for every N)")
    print(f"  {'sessions':>8} {'renders':>8} {'reads/30 s (mean)':>18} {'first 30 s':>10} {'later min-max':>13} "
          f"{'wall time':>9}")
    for n, r in reads.items():
        spread = f"{r['min']}-{r['max']}"
        print(f"  {n:8} {r['renders']:8} {r['mean']:18.1f} {r['first']:10} {spread:>13} {r['seconds']:8.1f}s")
        for problem in r["problems"]:
            print(f"      ! {problem}")
    if 1 in reads and reads[1]["mean"]:
        top = max(reads)
        ratio = reads[top]["mean"] / reads[1]["mean"]
        print(f"  reads({top}) / reads(1) = {ratio:.2f}  ({'flat' if ratio <= 1.05 else 'grows with sessions'})")


if __name__ == "__main__":
    main()
