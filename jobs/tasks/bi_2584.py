"""BI-2584: the daily snapshot of the Genesys list-automation config into its history table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from snowflake.snowpark import functions as F

from jobs.common import Replace, calendar, in_range, replace_rows

if TYPE_CHECKING:
    from jobs.context import TaskContext

TASK_KEY = "BI-2584"


def run(ctx: TaskContext) -> dict:
    session, tables, dates = ctx.session, ctx.tables, ctx.dates
    cal = calendar(session, dates).select("BUSINESS_DATE")
    config = session.table(tables.list_automation_config)
    rows = cal.cross_join(config).select(
        F.col("BUSINESS_DATE").alias("SNAPSHOT_DATE"), "LIST_NAME", "CHANNEL", "CAMPAIGN_NAME", "CONTACT_LIST_ID",
        "ACTIVE", "UPDATED_AT")
    replace_rows(session, [Replace(tables.config_history, in_range("SNAPSHOT_DATE", dates), rows)])
    stored = session.table(tables.config_history).filter(in_range("SNAPSHOT_DATE", dates))
    latest = stored.filter(F.col("SNAPSHOT_DATE") == F.lit(max(dates)))
    active = latest.filter(F.col("ACTIVE")).count()
    return {"rows": int(stored.count()), "dates": len(dates), "lists": int(latest.count()), "active": int(active)}
