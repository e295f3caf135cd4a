"""How soon a bad list is held: from the workflow run's end to the hold, through the real worker.

An embedded stack in a temporary data dir (its own warehouse process on a free port): ``--days`` of demo
history at ``--accounts`` accounts, then today's feeds. The real worker (``console.worker.run_worker``, the
scheduler with its 30 s watch) runs in this process. A "Run now" request starts today's workflow; while it
runs, right after BI-2482 (the base population) has finished, a cease-and-desist suppression arrives for an
account that was on yesterday's call list, so the call list is built with it: a suppression leak. The
bench waits (bounded) for the gate's hold and prints the time from the run's end to the hold's decision, the
checks' duration, and which check named it.

Figures only, no assertions. Usage: python bench/bench_gate.py [--accounts 50000] [--days 25]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import warehouse_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=25)
    parser.add_argument("--timeout", type=float, default=240.0)
    args = parser.parse_args()
    with warehouse_process("bench-gate-") as (_, _warehouse):
        run(args)


def run(args: argparse.Namespace) -> None:
    import sqlalchemy as sa
    from snowflake.snowpark import functions as F

    from console import demo, facts, pipeline_data
    from console.app import build_adapters
    from console.clock import ET, SystemClock, business_date, is_business_day
    from console.settings import load_settings
    from console.store import reconcile_runs
    from console.worker import run_worker

    base = load_settings()
    settings = dataclasses.replace(base, demo_accounts=args.accounts,
                                   schedules={**base.schedules, "action_poll_seconds": 1})
    adapters = build_adapters(settings)
    now = SystemClock().now()
    if not is_business_day(now.astimezone(ET).date()):
        print("today is not a business day in ET: the worker's watch only looks at today; run it on a weekday")
        return
    t0 = time.perf_counter()
    demo.ensure_demo(adapters, days=args.days, accounts=args.accounts, now=now)
    today = now.astimezone(ET).date()
    yesterday = business_date(now) if business_date(now) != today else demo.history_end(now)
    demo.prepare_day(adapters, today)
    print(f"accounts={args.accounts:,}, {args.days} days of history seeded in {time.perf_counter() - t0:.1f} s; "
          f"today {today}", flush=True)
    tables = settings.tables
    with adapters.warehouse.session() as session:
        victim = int(session.table(tables.outbound_lists).filter(
            (F.col("BUSINESS_DATE") == F.lit(yesterday)) & (F.col("LIST_NAME") == "GR_CALL_LIST"))
            .sort("PRIORITY").limit(1).collect()[0]["ACCOUNT_ID"])

    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(adapters,), kwargs={"stop": stop}, daemon=True)
    worker.start()
    try:
        time.sleep(3)  # the worker takes its lock and schedules its jobs
        request = adapters.engine.submit("trigger", "bench", f"bench-gate:{today}:{time.time_ns()}",
                                         business_date=today)
        print(f"run now: {request.message}", flush=True)
        deadline = time.monotonic() + args.timeout
        injected = False
        hold = None
        while time.monotonic() < deadline and hold is None:
            run_ = adapters.engine.run_for_date(today)
            first = next((t for t in run_.tasks if t.task_key.startswith("BI-2482")), None) if run_ else None
            if not injected and first is not None and first.state.value == "succeeded":
                with adapters.warehouse.session() as session:  # a suppression that arrives mid-run
                    session.sql(f"INSERT INTO {tables.suppressions} (ACCOUNT_ID, REASON, CHANNEL, START_DATE, "
                                f"END_DATE) VALUES ({victim}, 'CEASE_AND_DESIST', 'ALL', '{today}', NULL)").collect()
                injected = True
                print(f"  {time.strftime('%H:%M:%S')} suppression for account {victim} inserted after BI-2482",
                      flush=True)
            if injected:
                with adapters.warehouse.session() as session:
                    held = [r for r in pipeline_data.list_releases(session, tables, today) if r["state"] == "held"]
                if held:
                    hold = held[0]
            time.sleep(0.5)
        run_ = adapters.engine.run_for_date(today)
        if run_ is None or run_.end is None:
            print("the run did not finish within the timeout")
            return
        kept = facts.stored_reconciliation(adapters, today)
        print(f"run {run_.run_id} {run_.state.label}: {run_.start:%H:%M:%S} -> {run_.end:%H:%M:%S} UTC "
              f"({(run_.end - run_.start).total_seconds():.1f} s)")
        if hold is None:
            print(f"no hold within {args.timeout:.0f} s (last checks at {kept.at if kept else None})")
            return
        latency = (hold["at"] - run_.end).total_seconds()
        print(f"held: {hold['list_name']} ({hold['channel']}): {hold['reason']} at {hold['at']:%H:%M:%S} UTC")
        print(f"workflow end -> hold: {latency:.1f} s  (target <= 60 s; the watch looks every "
              f"{settings.schedules['watch_seconds']} s)")
        with adapters.store.connect() as conn:
            rows = conn.execute(sa.select(reconcile_runs).where(reconcile_runs.c.business_date == today)
                                .order_by(reconcile_runs.c.id)).all()
        for r in rows:
            took = (r.finished_at - r.started_at).total_seconds() if r.finished_at else float("nan")
            print(f"  reconcile run {r.id} ({r.trigger}) {r.status} in {took:.1f} s: {r.message}")
    finally:
        stop.set()
        worker.join(timeout=120)


if __name__ == "__main__":
    main()
