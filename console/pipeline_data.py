"""Reads of what the pipeline produced in the warehouse (Snowpark; the same code on both stacks).

Timestamps in the warehouse tables are naive UTC (see jobs/schema.py); they come back aware UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from snowflake.snowpark import functions as F

from console.settings import TableNames


def _aware(value: Any) -> dt.datetime | None:
    if value is None or pd.isna(value):
        return None
    moment = pd.Timestamp(value).to_pydatetime()
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def list_counts(session: Any, tables: TableNames, day: dt.date) -> pd.DataFrame:
    """Records per list and channel generated for ``day``: LIST_NAME, CHANNEL, DESTINATION, RECORDS."""
    rows = (session.table(tables.outbound_lists)
            .filter(F.col("BUSINESS_DATE") == F.lit(day))
            .group_by("LIST_NAME", "CHANNEL", "DESTINATION")
            .agg(F.count(F.lit(1)).alias("RECORDS"), F.max("GENERATED_AT").alias("GENERATED_AT"))
            .sort("LIST_NAME", "CHANNEL")
            .collect())
    frame = pd.DataFrame([r.as_dict() for r in rows],
                         columns=["LIST_NAME", "CHANNEL", "DESTINATION", "RECORDS", "GENERATED_AT"])
    frame["RECORDS"] = frame["RECORDS"].astype("int64")
    return frame


def upload_summary(session: Any, tables: TableNames, day: dt.date) -> tuple[dt.datetime | None, int]:
    """Newest import-log finish time for ``day`` and the number of lists in the log."""
    row = (session.table(tables.import_log).filter(F.col("BUSINESS_DATE") == F.lit(day))
           .agg(F.max("FINISHED_AT").alias("FINISHED"), F.count_distinct("LIST_NAME").alias("LISTS")).collect())[0]
    lists = int(row["LISTS"] or 0)
    # fakesnow answers MAX over no rows with the epoch instead of NULL: trust the count.
    return (_aware(row["FINISHED"]) if lists else None), lists


def export_summary(session: Any, tables: TableNames, day: dt.date) -> tuple[dt.datetime | None, int]:
    """Newest landing time of campaign results for ``day`` and their row count."""
    row = (session.table(tables.campaign_results).filter(F.col("BUSINESS_DATE") == F.lit(day))
           .agg(F.max("INGESTED_AT").alias("LANDED"), F.count(F.lit(1)).alias("ROWS")).collect())[0]
    count = int(row["ROWS"] or 0)
    return (_aware(row["LANDED"]) if count else None), count


def loan_tape_load(session: Any, tables: TableNames, day: dt.date) -> dict[str, Any] | None:
    """The loan-tape load for ``day`` (as-of date, load time, accounts), or None if it has not arrived."""
    rows = (session.table(tables.loan_tape_loads).filter(F.col("AS_OF_DATE") == F.lit(day))
            .sort(F.col("LOADED_AT").desc()).limit(1).collect())
    if not rows:
        return None
    row = rows[0].as_dict()
    row["LOADED_AT"] = _aware(row.get("LOADED_AT"))
    return row


def active_genesys_lists(session: Any, tables: TableNames) -> list[tuple[str, str]]:
    """(LIST_NAME, CHANNEL) of every active list in the Genesys list-automation config."""
    rows = (session.table(tables.list_automation_config).filter(F.col("ACTIVE"))
            .select("LIST_NAME", "CHANNEL").distinct().collect())
    return sorted((str(r["LIST_NAME"]), str(r["CHANNEL"])) for r in rows)


def uploaded_lists(session: Any, tables: TableNames, day: dt.date) -> dict[str, int]:
    """Records Genesys accepted per list for ``day`` (lists absent from the import log are absent here)."""
    rows = (session.table(tables.import_log).filter(F.col("BUSINESS_DATE") == F.lit(day))
            .group_by("LIST_NAME").agg(F.sum("RECORDS_ACCEPTED").alias("ACCEPTED")).collect())
    return {str(r["LIST_NAME"]): int(r["ACCEPTED"] or 0) for r in rows}


def list_releases(session: Any, tables: TableNames, day: dt.date) -> list[dict[str, Any]]:
    """The upload gate's decisions for ``day`` (one per list and channel); [] before the gate table exists."""
    try:
        rows = (session.table(tables.list_releases).filter(F.col("BUSINESS_DATE") == F.lit(day))
                .sort("LIST_NAME", "CHANNEL").collect())
    except Exception as exc:  # a warehouse seeded before the gate existed: no decisions yet
        if "does not exist" not in str(exc).lower():
            raise
        return []
    return [{"list_name": r["LIST_NAME"], "channel": r["CHANNEL"], "state": str(r["STATE"]).lower(),
             "reason": r["REASON"] or "", "checks": [c for c in (r["CHECKS"] or "").split(",") if c],
             "by": r["DECIDED_BY"] or "", "at": _aware(r["DECIDED_AT"])} for r in rows]
