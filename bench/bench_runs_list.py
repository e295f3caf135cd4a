"""A read of N business days of runs on a slow workspace: windows side by side against pages in a row.

    .venv/bin/python bench/bench_runs_list.py [--days 30] [--latency 0.9] [--repeat 5]

The fake Jobs API of the tests (``tests/fake_databricks.py``) holds one finished run per business day; every
runs/list answer waits ``--latency`` seconds (a slow workspace or proxy). ``DatabricksEngine.list_runs`` over
the N days, as shipped (28-day windows read side by side), against the same engine with one window (the SDK
pages 25 runs at a time, one page after the other). Median of ``--repeat``; alternating; ratio in one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.adapters import databricks  # noqa: E402
from console.clock import last_business_days  # noqa: E402
from console.settings import DatabricksSettings  # noqa: E402
from tests import dbxkit  # noqa: E402
from tests.fake_databricks import FakeJobsAPI  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.9)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    days = last_business_days(dbxkit.dt.date(2026, 11, 25), min(args.days, 120))
    budget = DatabricksSettings(read_budget_seconds=2.0, action_budget_seconds=20, http_timeout_seconds=30)
    with FakeJobsAPI() as fake:
        spec = dbxkit.spec()
        job_id = dbxkit.deploy(fake, spec)
        for day in days:
            dbxkit.at_six(fake, day)
            fake.finish(fake.new_run(job_id, {"business_date": day.isoformat()}))
        shipped = databricks.WINDOW_DAYS
        times: dict[str, list[float]] = {"windows side by side": [], "pages in a row": []}
        with fake.fault("slow", path="/api/2.2/jobs/runs/list", times=10_000, seconds=args.latency):
            for _ in range(args.repeat):
                for label, window in (("windows side by side", shipped), ("pages in a row", 10_000)):
                    databricks.WINDOW_DAYS = window
                    engine = dbxkit.engine(fake, spec, dbxkit.store(Path(tempfile.mkdtemp())), budget)
                    engine.cooldown_seconds = 0
                    engine.list_runs(days[-1], days[-1])  # the client built, the job found
                    before = len(fake.requests("GET", "/api/2.2/jobs/runs/list"))
                    started = time.perf_counter()
                    try:
                        found = len(engine.list_runs(days[0], days[-1], with_tasks=True))
                    except databricks.EngineUnavailable as exc:
                        found = f"failed: {exc.message}"
                    times[label].append(time.perf_counter() - started)
                    requests = len(fake.requests("GET", "/api/2.2/jobs/runs/list")) - before
                    print(f"  {label}: {times[label][-1]:.2f} s, {requests} runs/list requests, runs: {found}",
                          file=sys.stderr)
        databricks.WINDOW_DAYS = shipped
    side, row = (statistics.median(times[k]) for k in times)
    print(f"{len(days)} business days of runs, runs/list answering in {args.latency:g} s: windows side by side "
          f"{side:.2f} s, pages in a row {row:.2f} s (ratio {row / side:.2f}); read budget 2 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
