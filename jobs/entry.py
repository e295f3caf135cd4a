"""``run_task``: the entry point of the Databricks wheel task (``python_wheel_task.entry_point``).

    run_task --task bi_737 [--date 2026-11-27] [--start-date 2026-11-20]

Runs ``jobs/tasks/<task>.py:run`` for the business date (default: today's, America/New_York) and prints
the task's result as one JSON line. The session is Snowflake's in production (the connection from secrets or
``SNOWFLAKE_*`` env, as on the console) and the embedded warehouse's otherwise. On Databricks, deploy-job
passes ``--date {{job.parameters.business_date}}``, empty unless the console started the run for a date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import logging
import sys
from typing import Any

from console.clock import SystemClock, business_date
from console.settings import Settings, load_settings, resolve_mode, snowflake_connection
from jobs.context import TaskContext


def _date_or_blank(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text.strip() else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_task", description="Run one outbound-list task.")
    parser.add_argument("--task", required=True, help="module in jobs/tasks, e.g. bi_737")
    parser.add_argument("--date", type=_date_or_blank, help="business date (default, or blank: today's, ET)")
    parser.add_argument("--start-date", type=dt.date.fromisoformat, help="first date of a backfill range")
    return parser.parse_args(argv)


def open_session(settings: Settings) -> Any:
    """Snowflake in production, the embedded warehouse otherwise (the same choice as the console's)."""
    if resolve_mode(settings) == "production":
        from console.adapters import snowflake

        return snowflake.open_session(settings, snowflake_connection(settings) or {})
    from console.adapters import embedded_warehouse

    return embedded_warehouse.open_session(settings)


def main(argv: list[str] | None = None) -> int:
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
