"""``run_task``: the entry point of the Databricks wheel task (``python_wheel_task.entry_point``).

    run_task --task bi_737 [--date 2026-11-27] [--start-date 2026-11-20]

Runs ``jobs/tasks/<task>.py:run`` for the business date (default: today's, America/New_York) and prints
the task's result as one JSON line. For now the session is the embedded warehouse's; a Snowflake session
from secrets takes its place when the production adapter lands in ``console``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import logging
import sys

from console.clock import SystemClock, business_date
from console.settings import load_settings
from jobs.context import TaskContext


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_task", description="Run one outbound-list task.")
    parser.add_argument("--task", required=True, help="module in jobs/tasks, e.g. bi_737")
    parser.add_argument("--date", type=dt.date.fromisoformat, help="business date (default: today's, ET)")
    parser.add_argument("--start-date", type=dt.date.fromisoformat, help="first date of a backfill range")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from console.adapters.embedded_warehouse import open_session

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.task.isidentifier():
        raise SystemExit(f"run_task: --task must name a module in jobs/tasks (got {args.task!r})")
    module = importlib.import_module(f"jobs.tasks.{args.task}")
    settings = load_settings()
    day = args.date or business_date(SystemClock().now())
    ctx = TaskContext(session=open_session(settings), business_date=day, tables=settings.tables,
                      sftp_outbox=settings.sftp_outbox, sftp_inbox=settings.sftp_inbox,
                      task_key=getattr(module, "TASK_KEY", args.task), start_date=args.start_date)
    result = module.run(ctx)
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
