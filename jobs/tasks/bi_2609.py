"""BI-2609: the high-risk letter e-mail list: high-risk-tier delinquent accounts at 60+ DPD."""

from __future__ import annotations

from typing import TYPE_CHECKING

from snowflake.snowpark import functions as F

from jobs.common import ListSpec, base_population, write_lists

if TYPE_CHECKING:
    from jobs.context import TaskContext

TASK_KEY = "BI-2609"
LIST_NAME = "GR_EMAIL_HIGH_RISK_LETTER"


def run(ctx: TaskContext) -> dict:
    dpd = F.col("DAYS_PAST_DUE")
    rows = base_population(ctx).filter(
        (F.col("LOAN_STATUS") == "DELINQUENT") & (dpd >= 60) & (F.col("RISK_TIER") == "HIGH") & F.col("EMAIL_OK"))
    spec = ListSpec(LIST_NAME, "EMAIL", "GENESYS", rows, [dpd.desc(), F.col("PRINCIPAL_BALANCE").desc()])
    return write_lists(ctx, TASK_KEY, [spec])
