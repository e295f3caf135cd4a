"""DI-977: the prescreen marketing e-mail list: a deterministic daily sample of current, low/medium-risk
accounts with marketing and e-mail consent, outside the funnel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from snowflake.snowpark import functions as F

from jobs.common import ListSpec, base_population, hash_bucket, in_range, write_lists

if TYPE_CHECKING:
    from jobs.context import TaskContext

TASK_KEY = "DI-977"
LIST_NAME = "PRESCREEN_EMAIL"
SAMPLE_PERCENT = 4  # of the eligible accounts, chosen by a hash of account and date (same every rerun)


def run(ctx: TaskContext) -> dict:
    in_funnel = (ctx.session.table(ctx.tables.funnel_population).filter(in_range("BUSINESS_DATE", ctx.dates))
                 .select("BUSINESS_DATE", "ACCOUNT_ID"))
    sampled = hash_bucket("ACCOUNT_ID", "BUSINESS_DATE", modulo=100, salt="prescreen") < SAMPLE_PERCENT
    rows = (base_population(ctx)
            .filter((F.col("LOAN_STATUS") == "CURRENT") & F.col("RISK_TIER").isin("LOW", "MEDIUM")
                    & F.col("MARKETING_OK") & F.col("EMAIL_OK") & sampled)
            .join(in_funnel, on=["BUSINESS_DATE", "ACCOUNT_ID"], how="left_anti"))
    spec = ListSpec(LIST_NAME, "EMAIL", "GENESYS", rows, [F.col("RISK_TIER").asc(), F.col("PRINCIPAL_BALANCE").desc()])
    return write_lists(ctx, TASK_KEY, [spec])
