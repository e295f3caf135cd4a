"""Daily record counts per list and channel: the aggregate table trends read, and volume anomalies.

``daily_volumes`` (``[tables] daily_volumes``) holds one row per business date × list × channel ×
destination, built in the warehouse from ``outbound_lists`` (Snowpark group-by) after each run, so a year
of trend reads a few thousand rows and never rescans the list rows. Anomalies compare a day's count with
the same weekday in the trailing weeks (median ± k·MAD, never narrower than the count's own Poisson noise
k·√median nor ± a share of the median; settings ``[checks]``); that arithmetic runs in
Python over aggregate rows, O(lists × channels × weeks).
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from snowflake.snowpark import functions as F

from console.settings import Settings, TableNames
from jobs.common import Replace, now_utc, replace_rows
from jobs.schema import COLUMNS

logger = logging.getLogger(__name__)

MAD_TO_SIGMA = 1.4826  # MAD × this estimates the standard deviation of normal data
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
VOLUME_COLUMNS = ["BUSINESS_DATE", "LIST_NAME", "CHANNEL", "DESTINATION", "RECORDS", "ACCOUNTS"]


# ------------------------------------------------------------------------------------------------ the aggregate
def ensure_table(session: Any, tables: TableNames) -> None:
    """Create the aggregate table if it is missing (a warehouse seeded before it existed)."""
    body = ", ".join(f"{column} {kind}" for column, kind in COLUMNS["daily_volumes"])
    session.sql(f"CREATE TABLE IF NOT EXISTS {tables.daily_volumes} ({body})").collect()


def refresh_daily_volumes(session: Any, tables: TableNames, dates: Sequence[dt.date] | None = None,
                          atomic: bool = True) -> int:
    """Rebuild the aggregate rows of ``dates`` (all dates when None) from the list rows; returns rows written.

    ``atomic=False`` leaves the transaction to the caller (the delete and insert then join theirs).
    """
    ensure_table(session, tables)
    lists = session.table(tables.outbound_lists)
    where = None
    chosen: list[Any] = sorted(set(dates)) if dates is not None else []
    if dates is not None:
        if not chosen:
            return 0
        where = F.col("BUSINESS_DATE").isin(chosen)
        lists = lists.filter(where)
    rows = (lists.group_by("BUSINESS_DATE", "LIST_NAME", "CHANNEL", "DESTINATION")
            .agg(F.count(F.lit(1)).alias("RECORDS"), F.count_distinct("ACCOUNT_ID").alias("ACCOUNTS"))
            .select(F.col("BUSINESS_DATE").alias("BUSINESS_DATE"), F.col("LIST_NAME").alias("LIST_NAME"),
                    F.col("CHANNEL").alias("CHANNEL"), F.col("DESTINATION").alias("DESTINATION"),
                    F.col("RECORDS").alias("RECORDS"), F.col("ACCOUNTS").alias("ACCOUNTS"),
                    F.lit(now_utc()).alias("REFRESHED_AT")))
    if atomic:
        replace_rows(session, [Replace(tables.daily_volumes, where if where is not None else F.lit(True), rows)])
    else:
        target = session.table(tables.daily_volumes)
        target.delete(where) if where is not None else target.delete()
        rows.write.save_as_table(tables.daily_volumes, mode="append", column_order="name")
    count = session.table(tables.daily_volumes)
    if dates is not None:
        count = count.filter(F.col("BUSINESS_DATE").isin(chosen))
    return int(count.count())


def backfill_if_empty(session: Any, tables: TableNames) -> int:
    """Build the whole aggregate once when it is empty (first start after an upgrade, a fresh seed)."""
    ensure_table(session, tables)
    if session.table(tables.daily_volumes).limit(1).count():
        return 0
    written = refresh_daily_volumes(session, tables)
    logger.info("daily volumes backfilled: %d rows", written)
    return written


def daily_volumes(session: Any, tables: TableNames, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Aggregate rows from ``start`` to ``end`` (both included), as plain Python types."""
    rows = (session.table(tables.daily_volumes)
            .filter((F.col("BUSINESS_DATE") >= F.lit(start)) & (F.col("BUSINESS_DATE") <= F.lit(end)))
            .select(*VOLUME_COLUMNS).collect())
    frame = pd.DataFrame([r.as_dict() for r in rows], columns=VOLUME_COLUMNS)
    frame["BUSINESS_DATE"] = [pd.Timestamp(d).date() for d in frame["BUSINESS_DATE"]]
    for column in ("RECORDS", "ACCOUNTS"):
        frame[column] = pd.to_numeric(frame[column]).astype("int64")
    return frame.sort_values(["BUSINESS_DATE", "LIST_NAME", "CHANNEL"]).reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ anomalies
@dataclass(frozen=True)
class Baseline:
    """A day's count against the same weekday before it."""

    list_name: str
    channel: str
    business_date: dt.date
    records: int
    history: int  # same-weekday observations used
    median: float | None
    low: float | None
    high: float | None
    status: str  # ok | too_high | too_low | not_enough_history
    explanation: str

    @property
    def flagged(self) -> bool:
        return self.status in ("too_high", "too_low")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["business_date"] = self.business_date.isoformat()
        return data


def _band(values: list[int], k: float, min_band: float) -> tuple[float, float, float]:
    median = float(statistics.median(values))
    mad = float(statistics.median(abs(v - median) for v in values)) * MAD_TO_SIGMA
    # Counts carry at least Poisson noise (sd = sqrt(mean)): without this floor a small list whose few
    # history days happen to agree would flag ordinary day-to-day variation.
    half = max(k * mad, min_band * median, k * max(median, 1.0) ** 0.5)
    return median, max(0.0, median - half), median + half


def baseline(list_name: str, channel: str, day: dt.date, records: int, history: list[int],
             checks: dict[str, float]) -> Baseline:
    """Classify ``records`` on ``day`` against ``history`` (the same weekday's counts before it)."""
    weekday = WEEKDAYS[day.weekday()]
    needed = int(checks["anomaly_min_history"])
    if len(history) < needed:
        return Baseline(list_name, channel, day, records, len(history), None, None, None, "not_enough_history",
                        f"Not enough history: {len(history)} earlier {weekday}(s) in the last "
                        f"{int(checks['anomaly_window_weeks'])} weeks, {needed} needed for a baseline.")
    median, low, high = _band(history, checks["anomaly_k"], checks["anomaly_min_band"])
    expected = (f"expected {low:,.0f} to {high:,.0f} (median {median:,.0f} of the last {len(history)} "
                f"{weekday}s)")
    if records < low:
        status, words = "too_low", f"{records:,} records is too low: {expected}; {1 - records / median:.0%} below"
    elif records > high:
        status, words = "too_high", f"{records:,} records is too high: {expected}; " + (
            f"{records / median - 1:.0%} above" if median else "usually none")
    else:
        status, words = "ok", f"{records:,} records is within the {expected}."
    return Baseline(list_name, channel, day, records, len(history), median, low, high, status, words)


def with_baselines(frame: pd.DataFrame, checks: dict[str, float],
                   dates: Sequence[dt.date] | None = None) -> pd.DataFrame:
    """Per list × channel × date in ``dates`` (default: every date in ``frame``): the records, the
    same-weekday baseline band, its status and the day-over-day change. ``frame`` as from ``daily_volumes``,
    reaching back at least ``anomaly_window_weeks`` before the first date for full baselines."""
    counts: dict[tuple[str, str], dict[dt.date, int]] = {}
    for row in frame.groupby(["LIST_NAME", "CHANNEL", "BUSINESS_DATE"], as_index=False)["RECORDS"].sum().itertuples():
        counts.setdefault((row.LIST_NAME, row.CHANNEL), {})[row.BUSINESS_DATE] = int(row.RECORDS)
    all_dates = sorted(set(frame["BUSINESS_DATE"]))
    wanted = set(dates) if dates is not None else set(all_dates)
    window = dt.timedelta(weeks=int(checks["anomaly_window_weeks"]))
    same_weekday: dict[int, list[dt.date]] = {}
    for day in all_dates:
        same_weekday.setdefault(day.weekday(), []).append(day)
    position = {day: i for days in same_weekday.values() for i, day in enumerate(days)}
    records = []
    for (list_name, channel), by_date in sorted(counts.items()):
        first_seen = min(by_date)
        previous: int | None = None
        for day in all_dates:
            value = by_date.get(day, 0)
            if day in wanted:
                # A date on which the warehouse has lists but not this one counts as 0 (the list went missing).
                before = same_weekday[day.weekday()][:position[day]]
                history = [by_date.get(d, 0) for d in before if d >= day - window and d >= first_seen]
                base = baseline(list_name, channel, day, value, history, checks)
                change = None if previous is None else value - previous
                records.append({
                    "BUSINESS_DATE": day, "LIST_NAME": list_name, "CHANNEL": channel, "RECORDS": value,
                    "BASE_MEDIAN": base.median, "BASE_LOW": base.low, "BASE_HIGH": base.high,
                    "HISTORY": base.history, "STATUS": base.status, "EXPLANATION": base.explanation,
                    "CHANGE": change,
                    "CHANGE_PCT": (change / previous) if change is not None and previous else None,
                })
            if day >= first_seen:
                previous = value
    columns = ["BUSINESS_DATE", "LIST_NAME", "CHANNEL", "RECORDS", "BASE_MEDIAN", "BASE_LOW", "BASE_HIGH",
               "HISTORY", "STATUS", "EXPLANATION", "CHANGE", "CHANGE_PCT"]
    table = pd.DataFrame(records, columns=columns)
    return table.astype({"BASE_MEDIAN": "float64", "BASE_LOW": "float64", "BASE_HIGH": "float64",
                         "CHANGE": "float64", "CHANGE_PCT": "float64", "RECORDS": "int64", "HISTORY": "int64"})


def history_start(settings: Settings, start: dt.date) -> dt.date:
    """How far back to read so every date from ``start`` on has its full same-weekday window."""
    return start - dt.timedelta(weeks=int(settings.checks["anomaly_window_weeks"]))


def day_anomalies(session: Any, settings: Settings, day: dt.date,
                  today_counts: pd.DataFrame | None = None) -> list[Baseline]:
    """Every list × channel of ``day`` against its baseline. ``today_counts`` (LIST_NAME, CHANNEL, RECORDS)
    replaces the aggregate's rows for ``day`` when given (the day's own counts, read fresh)."""
    frame = daily_volumes(session, settings.tables, history_start(settings, day), day)
    return anomalies(frame, settings.checks, day, today_counts)


def anomalies(frame: pd.DataFrame, checks: dict[str, float], day: dt.date,
              today_counts: pd.DataFrame | None = None) -> list[Baseline]:
    """Every list × channel of ``day`` against its same-weekday baseline: the one judgment of a list's count
    (the record-count check and the checklist both use it). ``frame`` holds aggregate rows reaching back
    ``anomaly_window_weeks`` (``history_start``); ``today_counts`` (LIST_NAME, CHANNEL, RECORDS) replaces its
    rows for ``day`` when given."""
    if today_counts is not None:
        today = today_counts.assign(BUSINESS_DATE=day, DESTINATION="", ACCOUNTS=0)[VOLUME_COLUMNS]
        before = frame[frame["BUSINESS_DATE"] != day]
        frame = pd.concat([before, today], ignore_index=True) if len(before) else today
    table = with_baselines(frame, checks, [day])
    return [Baseline(r.LIST_NAME, r.CHANNEL, r.BUSINESS_DATE, int(r.RECORDS), int(r.HISTORY),
                     None if pd.isna(r.BASE_MEDIAN) else float(r.BASE_MEDIAN),
                     None if pd.isna(r.BASE_LOW) else float(r.BASE_LOW),
                     None if pd.isna(r.BASE_HIGH) else float(r.BASE_HIGH), r.STATUS, r.EXPLANATION)
            for r in table.itertuples()]


def with_day(frame: pd.DataFrame, day: dt.date, lists: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``day``'s rows replaced by ``lists`` (LIST_NAME, CHANNEL, DESTINATION, RECORDS read
    fresh for the day), so a run that finished after the aggregate's last refresh shows at once."""
    if lists.empty:
        return frame
    today = lists.assign(BUSINESS_DATE=day, ACCOUNTS=lists["RECORDS"])[VOLUME_COLUMNS]
    today = today.astype({"RECORDS": "int64", "ACCOUNTS": "int64"})
    return pd.concat([frame[frame["BUSINESS_DATE"] != day], today], ignore_index=True)
