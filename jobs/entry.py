"""``run_task``: the entry point of the Databricks wheel task (``python_wheel_task.entry_point``).

    run_task --task bi_737 [--date 2026-11-27] [--start-date 2026-11-20]

Runs ``jobs/tasks/<task>.py:run`` for the business date (default: today's, America/New_York) and prints
the task's result as one JSON line. The session is Snowflake's in production (the connection from secrets or
``SNOWFLAKE_*`` env, as on the console) and the embedded warehouse's otherwise. On Databricks, deploy-job
passes ``--date {{job.parameters.business_date}}``, empty unless the console started the run for a date.
Settings come from ``console.toml`` through ``jobs.config``: the wheel's tasks never import the console.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import logging
import sys
from typing import TYPE_CHECKING

from jobs.business_calendar import business_date, is_business_day, now_et
from jobs.config import JobConfig, load_config
from jobs.context import TaskContext
from jobs.session import embedded_session, snowflake_session

if TYPE_CHECKING:
    from snowflake.snowpark import Session


def _date_or_blank(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text.strip() else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_task", description="Run one outbound-list task.")
    parser.add_argument("--task", required=True, help="module in jobs/tasks, e.g. bi_737")
    parser.add_argument("--date", type=_date_or_blank, help="business date (default, or blank: today's, ET)")
    parser.add_argument("--start-date", type=dt.date.fromisoformat, help="first date of a backfill range")
    return parser.parse_args(argv)


def open_session(config: JobConfig) -> Session:
    """Snowflake in production, the embedded warehouse otherwise (the same choice as the console's)."""
    if config.resolved_mode == "production":
        return snowflake_session(config.snowflake or {}, config.query_tag, config.statement_timeout_seconds)
    return embedded_session(config.warehouse_host, config.warehouse_port, config.query_tag,
                            config.statement_timeout_seconds)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.task.isidentifier():
        raise SystemExit(f"run_task: --task must name a module in jobs/tasks (got {args.task!r})")
    module = importlib.import_module(f"jobs.tasks.{args.task}")
    now = now_et()  # once: the holiday check and the business date agree even across midnight
    if args.date is None:
        today = now.date()
        if not is_business_day(today):
            # The schedule fires Mon–Fri; on a holiday the day before is uploaded already: touch nothing.
            reason = "holiday" if today.weekday() < 5 else "weekend"
            sys.stdout.write(json.dumps({"task": getattr(module, "TASK_KEY", args.task), "business_date": str(today),
                                         "status": f"{reason}: skipped"}) + "\n")
            return 0
    config = load_config()
    day = args.date or business_date(now)
    ctx = TaskContext(session=open_session(config), business_date=day, tables=config.tables,
                      sftp_outbox=config.sftp_outbox, sftp_inbox=config.sftp_inbox,
                      task_key=getattr(module, "TASK_KEY", args.task), start_date=args.start_date)
    result = module.run(ctx)
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
