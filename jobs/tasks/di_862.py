"""DI-862: the SIMM agency placement list (90+ DPD, or charged off in the last 30 days) and its SFTP file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from snowflake.snowpark import functions as F
from snowflake.snowpark.types import DoubleType, LongType

from jobs.common import ListSpec, base_population, in_range, write_daily_files, write_lists

if TYPE_CHECKING:
    from jobs.context import TaskContext

TASK_KEY = "DI-862"
LIST_NAME = "SIMM_PLACEMENT"
CHARGED_OFF_LOOKBACK_DAYS = 30
FILE_PREFIX = "SIMM_PLACEMENT"


def run(ctx: TaskContext) -> dict:
    base = base_population(ctx)
    status, dpd = F.col("LOAN_STATUS"), F.col("DAYS_PAST_DUE")
    charged_off_recently = (status == "CHARGED_OFF") & (
        F.datediff("day", F.col("STATUS_EFFECTIVE_DATE"), F.col("BUSINESS_DATE")) <= CHARGED_OFF_LOOKBACK_DAYS)
    rows = base.filter((((status == "DELINQUENT") & (dpd >= 90)) | charged_off_recently) & F.col("CALL_OK"))
    spec = ListSpec(LIST_NAME, "CALL", "SFTP_SIMM", rows, [dpd.desc(), F.col("PRINCIPAL_BALANCE").desc()])
    result = write_lists(ctx, TASK_KEY, [spec])

    # The placement file carries exactly the stored list, with the balances the agency needs.
    stored = ctx.session.table(ctx.tables.outbound_lists).filter(
        (F.col("TASK_KEY") == TASK_KEY) & in_range("BUSINESS_DATE", ctx.dates))
    details = base.select("BUSINESS_DATE", "ACCOUNT_ID", "LOAN_STATUS", "PRINCIPAL_BALANCE", "AMOUNT_DUE")
    frame = (stored.join(details, on=["BUSINESS_DATE", "ACCOUNT_ID"])
             .select("BUSINESS_DATE", F.col("ACCOUNT_ID").cast(LongType()).alias("ACCOUNT_ID"),
                     F.col("CONTACT").alias("PHONE"), F.col("DAYS_PAST_DUE").cast(LongType()).alias("DAYS_PAST_DUE"),
                     "LOAN_STATUS",
                     # floats, not decimals: pandas would hold Python Decimal objects, slow to write
                     F.col("PRINCIPAL_BALANCE").cast(DoubleType()).alias("PRINCIPAL_BALANCE"),
                     F.col("AMOUNT_DUE").cast(DoubleType()).alias("AMOUNT_DUE"),
                     F.col("PRIORITY").cast(LongType()).alias("PRIORITY"))
             .sort("BUSINESS_DATE", "PRIORITY").to_pandas())
    paths = write_daily_files(frame, ctx.sftp_outbox / "simm", FILE_PREFIX, ctx.dates)
    return {**result, "files": len(paths), "file": str(paths[-1])}
