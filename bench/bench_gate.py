"""How soon a bad list is held: from the workflow run's end to the hold, through the real worker.

An embedded stack in a temporary data dir (its own warehouse process on a free port): ``--days`` of demo
history at ``--accounts`` accounts, then today's feeds. The real worker (``console.worker.run_worker``, the
scheduler with its 30 s watch) runs in this process. A "Run now" request starts today's workflow; while it
runs, right after BI-737 has written GR_CALL_LIST, a row for a cease-and-desist account is appended to it (as
a faulty task would: every list task filters suppressions itself, so the leak has to be put there). The
bench waits (bounded) for the gate's hold and prints the time from the run's end to the hold's decision and
the duration of each check run of the day.

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
    from console.clock import ET, SystemClock, is_business_day
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
    demo.prepare_day(adapters, today)
    print(f"accounts={args.accounts:,}, {args.days} days of history seeded in {time.perf_counter() - t0:.1f} s; "
          f"today {today}", flush=True)
    tables = settings.tables
    with adapters.warehouse.session() as session:
        victim = int(session.table(tables.suppressions).filter(
            (F.col("CHANNEL") == "ALL") & (F.col("REASON") == "CEASE_AND_DESIST") & F.col("END_DATE").is_null())
            .sort("ACCOUNT_ID").limit(1).collect()[0]["ACCOUNT_ID"])

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
            call = next((t for t in run_.tasks if t.task_key.startswith("BI-737")), None) if run_ else None
            if not injected and call is not None and call.state.value == "succeeded":
                with adapters.warehouse.session() as session:  # a faulty task's leak, mid-run
                    session.sql(f"INSERT INTO {tables.outbound_lists} (BUSINESS_DATE, LIST_NAME, CHANNEL, "
                                "DESTINATION, ACCOUNT_ID, TASK_KEY, CONTACT, DAYS_PAST_DUE, PRIORITY, GENERATED_AT) "
                                f"VALUES ('{today}', 'GR_CALL_LIST', 'CALL', 'GENESYS', {victim}, 'BI-737', "
                                "'555-0100', 40, 999999, CURRENT_TIMESTAMP)").collect()
                injected = True
                print(f"  {time.strftime('%H:%M:%S')} cease-and-desist account {victim} appended to GR_CALL_LIST "
                      f"after BI-737 (run {'still running' if not run_.state.is_terminal else 'ended'})",
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
