"""BI-813: the remitter call list: delinquent accounts that made a payment in the last 35 days."""

from __future__ import annotations

from typing import TYPE_CHECKING

from snowflake.snowpark import functions as F

from jobs.common import ListSpec, base_population, write_lists

if TYPE_CHECKING:
    from jobs.context import TaskContext

TASK_KEY = "BI-813"
LIST_NAME = "REMITTER"
PAYMENT_LOOKBACK_DAYS = 35


def run(ctx: TaskContext) -> dict:
    since_payment = F.datediff("day", F.col("LAST_PAYMENT_DATE"), F.col("BUSINESS_DATE"))
    rows = base_population(ctx).filter(
        (F.col("LOAN_STATUS") == "DELINQUENT") & since_payment.between(0, PAYMENT_LOOKBACK_DAYS) & F.col("CALL_OK"))
    spec = ListSpec(LIST_NAME, "CALL", "GENESYS", rows,
                    [F.col("LAST_PAYMENT_DATE").desc(), F.col("DAYS_PAST_DUE").desc()])
    return write_lists(ctx, TASK_KEY, [spec])
