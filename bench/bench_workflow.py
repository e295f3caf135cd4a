"""One business day's workflow through the local engine, beside the critical-path lower bound.

Seeds a short history at the given size on a fresh warehouse (a separate process, as in `make run`),
runs the whole workflow for the next business day through the engine (parallel, as the worker does),
then runs each task alone, serially, to get its duration; the critical path over those durations is the
lower bound a perfect scheduler could reach. Prints peak resident memory of this process (it plays the
worker) and of the warehouse process.

Targets (issue 2): 200k accounts within 30 s, 1M within 120 s; worker + warehouse within 2 GB at 1M.
Usage: python bench/bench_workflow.py --accounts 200000
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._util import env_for, free_port, peak_rss_mb, reset_peak, rss_mb, start_warehouse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=5, help="history days seeded before the measured day")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-workflow-") as tmp:
        port = free_port()
        env = env_for(Path(tmp), port)
        os.environ.update({k: env[k] for k in ("CONSOLE_DATA_DIR", "CONSOLE_WAREHOUSE_PORT")})
        warehouse = start_warehouse(env, port)
        try:
            run(args, warehouse.pid)
        finally:
            warehouse.terminate()
            warehouse.wait(timeout=60)


def run(args: argparse.Namespace, warehouse_pid: int) -> None:
    from console import demo
    from console.app import build_adapters
    from console.clock import SystemClock, next_business_day
    from console.settings import load_settings

    settings = dataclasses.replace(load_settings(), demo_accounts=args.accounts)
    adapters = build_adapters(settings)
    t0 = time.perf_counter()
    now = SystemClock().now()
    end = demo.history_end(now)
    seed_msg = demo.ensure_demo(adapters, days=args.days, accounts=args.accounts, now=now)
    seed_seconds = time.perf_counter() - t0
    day = next_business_day(end)
    demo.prepare_day(adapters, day)
    # Seeding happens once (in `serve`), not in the worker: reset the peak-memory marks before the workflow.
    reset_peak(warehouse_pid)
    reset_peak("self")

    t0 = time.perf_counter()
    result = adapters.engine.execute(adapters.engine.trigger(day, "bench").run_id)
    engine_seconds = time.perf_counter() - t0
    assert result.state.value == "succeeded", [(t.task_key, t.error_message) for t in result.tasks]

    alone: dict[str, float] = {}
    for task in adapters.spec.tasks:  # each task alone, serially, same day (a rerun replaces its rows)
        module = importlib.import_module(task.module)
        with adapters.warehouse.session() as session:
            ctx = adapters.task_context(session, day, task.key)
            t1 = time.perf_counter()
            module.run(ctx)
            alone[task.key] = time.perf_counter() - t1
    critical, path = adapters.spec.critical_path(alone)
    serial = sum(alone.values())
    print(f"accounts={args.accounts:,}  seeded {args.days} days in {seed_seconds:.1f} s ({seed_msg})")
    print(f"workflow for {day} through the engine: {engine_seconds:.2f} s")
    print(f"critical-path lower bound (tasks alone): {critical:.2f} s via "
          f"{' -> '.join(adapters.spec.task(k).short_key for k in path)}")
    print(f"sum of tasks alone (serial): {serial:.2f} s")
    print(f"engine / critical path = {engine_seconds / critical:.2f}x   "
          f"engine / serial = {engine_seconds / serial:.2f}x")
    for key, seconds in alone.items():
        print(f"  {adapters.spec.task(key).short_key:8} {seconds:6.2f} s")
    worker_mb, warehouse_mb = peak_rss_mb(), peak_rss_mb(warehouse_pid)
    print(f"peak RSS during the workflow: worker (this process) {worker_mb:.0f} MiB, warehouse {warehouse_mb:.0f} MiB "
          f"(now {rss_mb(warehouse_pid):.0f}), together {worker_mb + warehouse_mb:.0f} MiB  (target 2048 MiB)")


if __name__ == "__main__":
    main()
