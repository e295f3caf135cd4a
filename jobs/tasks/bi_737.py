"""BI-737: the GR collections call list: delinquent accounts at 1-119 DPD, worst and largest first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from snowflake.snowpark import functions as F

from jobs.common import ListSpec, base_population, write_lists

if TYPE_CHECKING:
    from jobs.context import TaskContext

TASK_KEY = "BI-737"
LIST_NAME = "GR_CALL_LIST"


def run(ctx: TaskContext) -> dict:
    dpd = F.col("DAYS_PAST_DUE")
    rows = base_population(ctx).filter(
        (F.col("LOAN_STATUS") == "DELINQUENT") & dpd.between(1, 119) & F.col("CALL_OK"))
    spec = ListSpec(LIST_NAME, "CALL", "GENESYS", rows, [dpd.desc(), F.col("PRINCIPAL_BALANCE").desc()])
    return write_lists(ctx, TASK_KEY, [spec])
