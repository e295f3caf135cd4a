"""BI-820: the GR text-eligible SMS list: delinquent at 1-89 DPD with SMS consent, outside the funnel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from snowflake.snowpark import functions as F

from jobs.common import ListSpec, base_population, in_range, write_lists

if TYPE_CHECKING:
    from jobs.context import TaskContext

TASK_KEY = "BI-820"
LIST_NAME = "GR_TEXT_ELIGIBLE"


def run(ctx: TaskContext) -> dict:
    dpd = F.col("DAYS_PAST_DUE")
    texted_by_funnel = (ctx.session.table(ctx.tables.funnel_population)
                        .filter(in_range("BUSINESS_DATE", ctx.dates) & F.col("SMS_OK"))
                        .select("BUSINESS_DATE", "ACCOUNT_ID"))
    rows = (base_population(ctx)
            .filter((F.col("LOAN_STATUS") == "DELINQUENT") & dpd.between(1, 89) & F.col("SMS_OK"))
            .join(texted_by_funnel, on=["BUSINESS_DATE", "ACCOUNT_ID"], how="left_anti"))
    spec = ListSpec(LIST_NAME, "SMS", "GENESYS", rows, [dpd.desc(), F.col("AMOUNT_DUE").desc()])
    return write_lists(ctx, TASK_KEY, [spec])
