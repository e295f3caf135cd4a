"""BI-2482: the base population of every business date, from the loan tape as of that date.

The base is every account some outbound program may contact that day: every delinquent account, every
account paid in full or charged off in the last 30 days, and every current account that may receive
marketing (the funnel and prescreen programs; current accounts have no collections contact). Each row has
the status, DPD, DPD bucket, balances and risk tier as of the date, and the channel flags: CALL_OK /
SMS_OK / EMAIL_OK combine contact validity, consents and the suppressions active on that date;
MARKETING_OK is marketing consent with no ALL-channel suppression.

Fails first if the loan tape has not been loaded for a date (the guide's "data pipeline delay: verify
source data availability").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from snowflake.snowpark import Column, Window
from snowflake.snowpark import functions as F

from jobs.common import Replace, SourceDataMissing, active_suppressions, calendar, in_range, replace_rows

if TYPE_CHECKING:
    from jobs.context import TaskContext

TASK_KEY = "BI-2482"
CLOSED_LOOKBACK_DAYS = 30  # closed accounts stay in the base this long (PIF letters, agency placement)


def require_tape_loads(ctx: TaskContext) -> None:
    """Raise ``SourceDataMissing`` unless loan_tape_loads has a load for every date of the run."""
    loads = ctx.session.table(ctx.tables.loan_tape_loads)
    loaded = {row["AS_OF_DATE"] for row in loads.filter(in_range("AS_OF_DATE", ctx.dates))
              .select("AS_OF_DATE").collect()}
    missing = [day for day in ctx.dates if day not in loaded]
    if missing:
        latest = loads.select(F.max("AS_OF_DATE").alias("LAST")).collect()[0]["LAST"]
        shown = ", ".join(d.isoformat() for d in missing[:5]) + (" …" if len(missing) > 5 else "")
        raise SourceDataMissing(
            f"{TASK_KEY}: the loan tape has no load for {shown} (latest load: {latest or 'none'}). "
            "Data pipeline delay: verify source data availability (the servicer's tape lands 05:15-05:45 ET "
            "in RAW.LOAN_SERVICING), then rerun.")


def run(ctx: TaskContext) -> dict:
    session, tables, dates = ctx.session, ctx.tables, ctx.dates
    require_tape_loads(ctx)
    first, last = min(dates), max(dates)
    cal = calendar(session, dates).select("BUSINESS_DATE")

    # Each tape row is in force from its EFFECTIVE_DATE until the account's next row.
    tape = session.table(tables.loan_tape).filter(F.col("EFFECTIVE_DATE") <= F.lit(last))
    following = Window.partition_by("ACCOUNT_ID").order_by("EFFECTIVE_DATE")
    spans = tape.select(
        "ACCOUNT_ID", "EFFECTIVE_DATE", "LOAN_STATUS", "DAYS_PAST_DUE_AT_EFFECTIVE", "PRINCIPAL_BALANCE",
        "AMOUNT_DUE", "LAST_PAYMENT_DATE", F.lead("EFFECTIVE_DATE").over(following).alias("NEXT_DATE"))
    spans = spans.filter(F.col("NEXT_DATE").is_null() | (F.col("NEXT_DATE") > F.lit(first)))
    in_force = (cal["BUSINESS_DATE"] >= spans["EFFECTIVE_DATE"]) & (
        spans["NEXT_DATE"].is_null() | (cal["BUSINESS_DATE"] < spans["NEXT_DATE"]))
    status = F.col("LOAN_STATUS")
    days_since = F.datediff("day", F.col("EFFECTIVE_DATE"), F.col("BUSINESS_DATE"))
    states = (spans.join(cal, in_force)
              .select(cal["BUSINESS_DATE"].alias("BUSINESS_DATE"), spans["ACCOUNT_ID"].alias("ACCOUNT_ID"),
                      status.alias("LOAN_STATUS"), F.col("EFFECTIVE_DATE").alias("STATUS_EFFECTIVE_DATE"),
                      F.iff(status == "DELINQUENT", F.col("DAYS_PAST_DUE_AT_EFFECTIVE") + days_since,
                            F.col("DAYS_PAST_DUE_AT_EFFECTIVE")).alias("DAYS_PAST_DUE"),
                      F.col("PRINCIPAL_BALANCE").alias("PRINCIPAL_BALANCE"),
                      F.col("AMOUNT_DUE").alias("AMOUNT_DUE"),
                      F.col("LAST_PAYMENT_DATE").alias("LAST_PAYMENT_DATE"),
                      days_since.alias("DAYS_SINCE_EFFECTIVE"))
              .filter(status.isin("CURRENT", "DELINQUENT")
                      | (F.col("DAYS_SINCE_EFFECTIVE") <= CLOSED_LOOKBACK_DAYS)))

    def blocked(*channels: str) -> Column:
        return F.max(F.iff(F.col("CHANNEL").isin(*channels), F.lit(1), F.lit(0)))

    suppressed = (active_suppressions(session, tables, cal)
                  .group_by("BUSINESS_DATE", "ACCOUNT_ID")
                  .agg(blocked("ALL", "CALL").alias("NO_CALL"), blocked("ALL", "SMS").alias("NO_SMS"),
                       blocked("ALL", "EMAIL").alias("NO_EMAIL"), blocked("ALL").alias("NO_CONTACT")))
    accounts = session.table(tables.accounts).select(
        "ACCOUNT_ID", "OPEN_DATE", "RISK_SCORE", "PHONE_VALID", "EMAIL_VALID", "SMS_CONSENT", "EMAIL_CONSENT",
        "MARKETING_CONSENT")
    dpd = F.col("DAYS_PAST_DUE")
    bucket = (F.when(status == "PAID_IN_FULL", F.lit("PAID_IN_FULL"))
              .when(status == "CHARGED_OFF", F.lit("CHARGED_OFF"))
              .when(dpd <= 0, F.lit("CURRENT"))
              .when(dpd < 30, F.lit("1-29")).when(dpd < 60, F.lit("30-59")).when(dpd < 90, F.lit("60-89"))
              .otherwise(F.lit("90-119")))
    risk = F.col("RISK_SCORE")
    tier = F.when(risk < 640, F.lit("HIGH")).when(risk < 720, F.lit("MEDIUM")).otherwise(F.lit("LOW"))

    def clear(flag: str) -> Column:
        return F.coalesce(F.col(flag), F.lit(0)) == 0

    base = (states.join(accounts, on="ACCOUNT_ID")
            .filter(F.col("OPEN_DATE") <= F.col("BUSINESS_DATE"))
            .join(suppressed, on=["BUSINESS_DATE", "ACCOUNT_ID"], how="left")
            .select(
                F.col("BUSINESS_DATE").alias("BUSINESS_DATE"), F.col("ACCOUNT_ID").alias("ACCOUNT_ID"),
                status.alias("LOAN_STATUS"), F.col("STATUS_EFFECTIVE_DATE").alias("STATUS_EFFECTIVE_DATE"),
                dpd.alias("DAYS_PAST_DUE"), bucket.alias("DPD_BUCKET"),
                F.col("PRINCIPAL_BALANCE").alias("PRINCIPAL_BALANCE"), F.col("AMOUNT_DUE").alias("AMOUNT_DUE"),
                F.col("LAST_PAYMENT_DATE").alias("LAST_PAYMENT_DATE"), tier.alias("RISK_TIER"),
                (F.col("PHONE_VALID") & clear("NO_CALL")).alias("CALL_OK"),
                (F.col("PHONE_VALID") & F.col("SMS_CONSENT") & clear("NO_SMS")).alias("SMS_OK"),
                (F.col("EMAIL_VALID") & F.col("EMAIL_CONSENT") & clear("NO_EMAIL")).alias("EMAIL_OK"),
                (F.col("MARKETING_CONSENT") & clear("NO_CONTACT")).alias("MARKETING_OK"),
            )
            .filter((F.col("LOAN_STATUS") != "CURRENT") | F.col("MARKETING_OK")))
    replace_rows(session, [Replace(tables.base_population, in_range("BUSINESS_DATE", dates), base)])

    stored = session.table(tables.base_population).filter(in_range("BUSINESS_DATE", dates))
    by_status = {row["LOAN_STATUS"]: int(row["N"]) for row in stored.filter(F.col("BUSINESS_DATE") == F.lit(last))
                 .group_by("LOAN_STATUS").agg(F.count(F.lit(1)).alias("N")).collect()}
    total = stored.count()
    return {"rows": int(total), "dates": len(dates), "first_date": first.isoformat(),
            "business_date": last.isoformat(), "statuses": by_status}
