"""DI-1049: accounts paid in full since the previous business day, e-mailed by SFMC (file over SFTP)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from snowflake.snowpark import functions as F
from snowflake.snowpark.types import LongType

from jobs.common import ListSpec, base_population, calendar, in_range, write_daily_files, write_lists

if TYPE_CHECKING:
    from jobs.context import TaskContext

TASK_KEY = "DI-1049"
LIST_NAME = "PIF_TO_SFMC"
FILE_PREFIX = "PIF_TO_SFMC"


def run(ctx: TaskContext) -> dict:
    cal = calendar(ctx.session, ctx.dates)
    paid = F.col("STATUS_EFFECTIVE_DATE")
    rows = (base_population(ctx).join(cal, on="BUSINESS_DATE")
            .filter((F.col("LOAN_STATUS") == "PAID_IN_FULL") & (paid > F.col("PREV_BUSINESS_DATE"))
                    & (paid <= F.col("BUSINESS_DATE")) & F.col("EMAIL_OK")))
    spec = ListSpec(LIST_NAME, "EMAIL", "SFTP_SFMC", rows, [paid.asc()])
    result = write_lists(ctx, TASK_KEY, [spec])

    stored = ctx.session.table(ctx.tables.outbound_lists).filter(
        (F.col("TASK_KEY") == TASK_KEY) & in_range("BUSINESS_DATE", ctx.dates))
    details = base_population(ctx).select("BUSINESS_DATE", "ACCOUNT_ID",
                                          F.col("STATUS_EFFECTIVE_DATE").alias("PAID_IN_FULL_DATE"))
    frame = (stored.join(details, on=["BUSINESS_DATE", "ACCOUNT_ID"])
             .select("BUSINESS_DATE", F.col("ACCOUNT_ID").cast(LongType()).alias("SUBSCRIBER_KEY"),
                     F.col("CONTACT").alias("EMAIL_ADDRESS"), "PAID_IN_FULL_DATE",
                     F.col("PRIORITY").cast(LongType()).alias("PRIORITY"))
             .sort("BUSINESS_DATE", "PRIORITY").to_pandas())
    paths = write_daily_files(frame, ctx.sftp_outbox / "sfmc", FILE_PREFIX, ctx.dates)
    return {**result, "files": len(paths), "file": str(paths[-1])}
