"""DI-986: the funnel population (e-mail non-openers and early-stage delinquents) and its call and SMS lists.

FUNNEL_CALL calls the delinquent part of the funnel; FUNNEL_SMS texts everyone in it. BI-820 and DI-977 run
after this task and leave funnel accounts off their own lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from snowflake.snowpark import functions as F

from jobs.common import ListSpec, Replace, SourceDataMissing, base_population, in_range, write_lists
from jobs.schema import column_names

if TYPE_CHECKING:
    from jobs.context import TaskContext

TASK_KEY = "DI-986"
EARLY_DPD = (1, 15)


def run(ctx: TaskContext) -> dict:
    session, tables, dates = ctx.session, ctx.tables, ctx.dates
    non_openers = (session.table(tables.email_non_openers).filter(in_range("BUSINESS_DATE", dates))
                   .select("BUSINESS_DATE", "ACCOUNT_ID").distinct())
    staged_dates = {row["BUSINESS_DATE"] for row in non_openers.select("BUSINESS_DATE").distinct().collect()}
    missing = [day for day in dates if day not in staged_dates]
    if missing:
        raise SourceDataMissing(f"{TASK_KEY}: no e-mail non-openers staged for {missing[0]}"
                                f"{' and later dates' if len(missing) > 1 else ''}: run DI-749 first.")
    dpd = F.col("DAYS_PAST_DUE")
    early = (F.col("LOAN_STATUS") == "DELINQUENT") & dpd.between(*EARLY_DPD)
    # One pass, no union (fakesnow cannot describe a Snowpark union): every open account of the base that is
    # a non-opener or an early-stage delinquent; a non-opener counts as such even if also early-stage.
    flagged = non_openers.select("BUSINESS_DATE", "ACCOUNT_ID", F.lit(True).alias("NON_OPENER"))
    funnel = (base_population(ctx).filter(F.col("LOAN_STATUS").isin("CURRENT", "DELINQUENT"))
              .join(flagged, on=["BUSINESS_DATE", "ACCOUNT_ID"], how="left")
              .filter(F.col("NON_OPENER").is_not_null() | early)
              .select(*[c for c in column_names("funnel_population") if c != "FUNNEL_SOURCE"],
                      F.iff(F.col("NON_OPENER").is_not_null(), F.lit("EMAIL_NON_OPENER"),
                            F.lit("EARLY_DELINQUENT")).alias("FUNNEL_SOURCE")))
    # The lists read the funnel rows back from the table: the funnel insert runs first in the same
    # transaction, so the base is scanned once instead of three times.
    population = Replace(tables.funnel_population, in_range("BUSINESS_DATE", dates),
                         funnel.select(*column_names("funnel_population")))
    stored = session.table(tables.funnel_population).filter(in_range("BUSINESS_DATE", dates))
    call = ListSpec("FUNNEL_CALL", "CALL", "GENESYS",
                    stored.filter((F.col("LOAN_STATUS") == "DELINQUENT") & F.col("CALL_OK")), [dpd.asc()])
    sms = ListSpec("FUNNEL_SMS", "SMS", "GENESYS", stored.filter(F.col("SMS_OK")),
                   [F.col("FUNNEL_SOURCE").asc(), dpd.desc()])
    result = write_lists(ctx, TASK_KEY, [call, sms], also=[population])
    return {**result, "funnel_population": int(stored.count())}
