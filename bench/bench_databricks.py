"""Jobs API requests per 30 s with N sessions watching a status page on the Databricks engine.

Everything in this process on 127.0.0.1: the fake Jobs API of the tests (``tests/fake_databricks.py``)
with the job deployed from the spec, ``--history-days`` business days of finished runs (one failed and
repaired, so get-output and repair history are read too) and today's run in progress; no warehouse (the
pages' list sections say so; what is counted here is the engine side). The pages use the real
``DatabricksEngine`` built by ``build_adapters`` from settings (``CONSOLE_ENGINE=databricks``).

N sessions are N ``AppTest`` instances of the page (``st.cache_data`` shared as between the browser tabs of
one server), each refreshing every 30 s with the timers spread evenly; the TTL clock of ``st.cache_data``
is virtual (as in ``bench_pages.py``), so ``--minutes`` of refreshes take seconds. The page clock is frozen
at ``--at`` on the last business day. Counted per 30 s window: HTTP requests in the fake's request log,
and the adapter's read operations (``api_calls``: one list, get or events call, whatever its pages).

Issue target: with 20 sessions and a 30 s refresh, the Databricks API is read at most twice per 30 s.
Usage: python bench/bench_databricks.py [--sessions 1,20] [--minutes 10] [--page Home.py]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._util import ROOT, free_port
from bench.bench_pages import REFRESH_SECONDS, VirtualClock, problems, quiet


def build_fake(history_days: int, day: dt.date) -> Any:
    from console.clock import last_business_days
    from tests import dbxkit
    from tests.fake_databricks import FakeJobsAPI

    fake = FakeJobsAPI().start()
    spec = dbxkit.spec()
    job_id = dbxkit.deploy(fake, spec)
    days = last_business_days(day, history_days + 1)
    failed_key = spec.task("DI-749").key
    for index, past in enumerate(days[:-1]):
        dbxkit.at_six(fake, past)
        run_id = fake.new_run(job_id, {"business_date": past.isoformat()}, trigger="PERIODIC")
        if index == len(days) - 2:  # yesterday: failed, then repaired
            fake.finish(run_id, fail={failed_key: "FileNotFoundError: drop late"})
            fake._repair({"run_id": run_id, "rerun_all_failed_tasks": True, "rerun_dependent_tasks": True})
        fake.finish(run_id)
    dbxkit.at_six(fake, day)
    today = fake.new_run(job_id, {"business_date": day.isoformat()}, trigger="PERIODIC")
    fake.start_tasks(today)
    return fake


def count(sessions: list[int], page: str, minutes: float, moment: dt.datetime, fake: Any) -> dict[int, Any]:
    import streamlit as st
    from streamlit.runtime.caching import cache_utils
    from streamlit.testing.v1 import AppTest

    from console.clock import FrozenClock
    from console.ui.frame import CLOCK_KEY, cached_adapters

    windows = max(1, int(minutes * 60 // REFRESH_SECONDS))
    out: dict[int, Any] = {}
    for n in sessions:
        apps = []
        for _ in range(n):
            at = AppTest.from_file(str(ROOT / page), default_timeout=30)
            at.session_state[CLOCK_KEY] = FrozenClock(moment)
            apps.append(at.run())
        engine = cached_adapters().engine
        events = sorted((k * REFRESH_SECONDS + i * REFRESH_SECONDS / n, i) for i in range(n) for k in range(windows))
        requests = [0] * windows
        calls = [0] * windows
        paths: collections.Counter[str] = collections.Counter()
        clock, saved = VirtualClock(), cache_utils.TTLCACHE_TIMER
        cache_utils.TTLCACHE_TIMER = clock
        t0 = time.perf_counter()
        try:
            st.cache_data.clear()
            for when, i in events:
                clock.now = when
                apps[i].session_state[CLOCK_KEY] = FrozenClock(moment + dt.timedelta(seconds=when))
                before_log, before_calls = len(fake.log), engine.api_calls
                apps[i].run()
                window = int(when // REFRESH_SECONDS)
                requests[window] += len(fake.log) - before_log
                calls[window] += engine.api_calls - before_calls
                paths.update(p for _, _, p in fake.log[before_log:])
        finally:
            cache_utils.TTLCACHE_TIMER = saved
            st.cache_data.clear()
        seen: list[str] = []
        for at in apps:
            seen += [p for p in problems(at) if p not in seen and "warehouse" not in p.lower()]
        out[n] = {"requests": requests, "calls": calls, "renders": len(events), "paths": paths,
                  "seconds": time.perf_counter() - t0, "problems": seen}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", default="1,20")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--page", default="Home.py")
    parser.add_argument("--history-days", type=int, default=65, help="business days of finished runs")
    parser.add_argument("--at", default="07:30", help="ET time of the page clock on the last business day")
    args = parser.parse_args()
    quiet()
    from console.clock import at_et, business_date, last_business_days

    day = last_business_days(business_date(dt.datetime.now(dt.UTC)), 1)[0]
    fake = build_fake(args.history_days, day)
    with tempfile.TemporaryDirectory(prefix="bench-databricks-") as tmp:
        os.environ.update(CONSOLE_DATA_DIR=tmp, CONSOLE_WAREHOUSE_PORT=str(free_port()),
                          CONSOLE_SECRETS=str(Path(tmp) / "none.toml"), CONSOLE_ENGINE="databricks",
                          CONSOLE_DATABRICKS_HOST=fake.host, DATABRICKS_TOKEN="fake-token")
        for key in ("CONSOLE_SETTINGS", "CONSOLE_STATE_URL"):
            os.environ.pop(key, None)
        try:
            result = count([int(n) for n in args.sessions.split(",")], args.page, args.minutes,
                           at_et(day, args.at), fake)
        finally:
            fake.stop()
    print(f"{args.page} on the Databricks engine (fake Jobs API), {len(fake.state.runs)} runs over "
          f"{args.history_days} business days + today's running; {args.minutes:g} min of refreshes every "
          f"{REFRESH_SECONDS} s per session, caches cold at the start")
    print(f"  {'sessions':>8} {'renders':>8} {'HTTP req/30 s':>13} {'first 30 s':>10} {'later max':>9} "
          f"{'API reads/30 s':>14} {'wall':>6}")
    for n, r in result.items():
        windows = len(r["requests"])
        print(f"  {n:8} {r['renders']:8} {sum(r['requests']) / windows:13.2f} {r['requests'][0]:10} "
              f"{max(r['requests'][1:] or [0]):9} {sum(r['calls']) / windows:14.2f} {r['seconds']:5.1f}s")
        print(f"      by endpoint over the run: {dict(r['paths'].most_common())}")
        for problem in r["problems"]:
            print(f"      ! {problem}")


if __name__ == "__main__":
    main()
