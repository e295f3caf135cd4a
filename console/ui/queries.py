"""Reads the pages need beyond ``day_status``: volume trends, reconciliation inputs, the audit trail.

Plain functions taking the adapter set (no streamlit); the pages wrap them in ``st.cache_data``.
Warehouse errors come back as console errors: a table that does not exist yet is ``NotFound`` saying
there is no data yet, anything else unexpected is ``WarehouseUnavailable`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import sqlalchemy as sa

from console.clock import ET, last_business_days
from console.errors import ConsoleError, NotFound, WarehouseUnavailable
from console.store import action_requests, demo_meta

logger = logging.getLogger(__name__)

GENESYS = "GENESYS"  # outbound_lists.DESTINATION of the lists uploaded to Genesys (jobs/schema.py)
NO_DATA_HINT = "Seed the demo (`python -m console seed`) or wait for the workflow to run."


def _missing_table(exc: Exception) -> bool:
    text = str(exc).lower()
    return getattr(exc, "sql_error_code", None) == 2003 or "002003" in text or "does not exist" in text


@contextmanager
def _warehouse(adapters: Any, what: str) -> Iterator[Any]:
    """Borrow a session; translate a missing table and other SQL failures into console errors."""
    try:
        with adapters.warehouse.session() as session:
            yield session
    except ConsoleError:
        raise
    except Exception as exc:
        if _missing_table(exc):
            raise NotFound(f"No data for this date yet: {what} is not in the warehouse.", NO_DATA_HINT) from None
        logger.warning("warehouse read (%s) failed: %s", what, exc)
        raise WarehouseUnavailable(f"Could not read {what}: {type(exc).__name__}: {str(exc)[:300]}",
                                   "Check the warehouse and retry.") from None


def _frame(rows: list[Any], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([r.as_dict() for r in rows], columns=columns)


# ------------------------------------------------------------------------------------------------ volumes
def volume_history(adapters: Any, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Daily aggregate rows from ``start`` to ``end`` (``console.volumes``); built once when still empty."""
    from console import volumes

    tables = adapters.settings.tables
    with _warehouse(adapters, f"the daily volumes table {tables.daily_volumes}") as session:
        volumes.backfill_if_empty(session, tables)
        return volumes.daily_volumes(session, tables, start, end)


def volume_trend(adapters: Any, end: dt.date, days: int) -> pd.DataFrame:
    """Records per business date and list over the ``days`` business days ending at ``end`` (from the
    daily aggregate, never the list rows)."""
    window = last_business_days(end, days)
    frame = volume_history(adapters, window[0], window[-1])
    frame = frame.groupby(["BUSINESS_DATE", "LIST_NAME"], as_index=False)["RECORDS"].sum()
    frame["RECORDS"] = frame["RECORDS"].astype("int64")
    frame["BUSINESS_DATE"] = [d.isoformat() for d in frame["BUSINESS_DATE"]]
    return frame.sort_values(["BUSINESS_DATE", "LIST_NAME"]).reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ reconciliation
RECONCILIATION_COLUMNS = ["List", "Generated", "Sent", "Accepted", "Rejected", "Uploaded (ET)", "Results accounts"]


def reconciliation(adapters: Any, day: dt.date) -> pd.DataFrame:
    """Per Genesys list: records generated, the import log's sent/accepted/rejected, accounts with results.

    Sums come back as floats on fakesnow: every count is cast to int here.
    """
    from snowflake.snowpark import functions as F

    tables = adapters.settings.tables
    on_day = F.col("BUSINESS_DATE") == F.lit(day)
    with _warehouse(adapters, f"the outbound lists table {tables.outbound_lists}") as session:
        generated = _frame(
            session.table(tables.outbound_lists).filter(on_day & (F.col("DESTINATION") == F.lit(GENESYS)))
            .group_by("LIST_NAME").agg(F.count(F.lit(1)).alias("GENERATED")).collect(),
            ["LIST_NAME", "GENERATED"])
    with _warehouse(adapters, f"the Genesys import log {tables.import_log}") as session:
        imported = _frame(
            session.table(tables.import_log).filter(on_day).group_by("LIST_NAME")
            .agg(F.sum("RECORDS_SENT").alias("SENT"), F.sum("RECORDS_ACCEPTED").alias("ACCEPTED"),
                 F.sum("RECORDS_REJECTED").alias("REJECTED"), F.max("FINISHED_AT").alias("FINISHED"))
            .collect(),
            ["LIST_NAME", "SENT", "ACCEPTED", "REJECTED", "FINISHED"])
    with _warehouse(adapters, f"the campaign results table {tables.campaign_results}") as session:
        results = _frame(
            session.table(tables.campaign_results).filter(on_day).group_by("LIST_NAME")
            .agg(F.count_distinct("ACCOUNT_ID").alias("RESULTS")).collect(),
            ["LIST_NAME", "RESULTS"])
    merged = generated.merge(imported, on="LIST_NAME", how="outer").merge(results, on="LIST_NAME", how="outer")
    out = pd.DataFrame({
        "List": merged["LIST_NAME"],
        "Generated": _ints(merged["GENERATED"]),
        "Sent": _ints(merged["SENT"]),
        "Accepted": _ints(merged["ACCEPTED"]),
        "Rejected": _ints(merged["REJECTED"]),
        "Uploaded (ET)": [_et_hhmm(v) for v in merged["FINISHED"]],
        "Results accounts": _ints(merged["RESULTS"]),
    })
    return out.sort_values("List").reset_index(drop=True)


def _ints(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").round().astype("Int64")


def _et_hhmm(value: Any) -> str:
    if value is None or (not isinstance(value, dt.datetime) and pd.isna(value)):
        return "—"
    moment = pd.Timestamp(value)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment
    return moment.tz_convert(ET).strftime("%H:%M")


# ------------------------------------------------------------------------------------------------ audit
AUDIT_COLUMNS = ["Requested (ET)", "Who", "Action", "Business date", "Run", "Tasks", "Status", "Message",
                 "Finished (ET)", "Request"]


def action_log(adapters: Any, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Action requests made from ``start`` to ``end`` (ET calendar days, both included), newest first."""
    since = dt.datetime(start.year, start.month, start.day, tzinfo=ET)
    until = dt.datetime(end.year, end.month, end.day, tzinfo=ET) + dt.timedelta(days=1)
    with adapters.store.connect() as conn:
        rows = conn.execute(sa.select(action_requests)
                            .where(action_requests.c.requested_at >= since, action_requests.c.requested_at < until)
                            .order_by(action_requests.c.requested_at.desc(), action_requests.c.id.desc())).all()
    records = []
    for r in rows:
        keys = json.loads(r.task_keys or "[]")
        records.append({
            "Requested (ET)": r.requested_at.astimezone(ET).strftime("%Y-%m-%d %H:%M:%S"),
            "Who": r.requested_by,
            "Action": r.kind,
            "Business date": r.business_date.isoformat() if r.business_date else "",
            "Run": r.run_id,
            "Tasks": ", ".join(_short(adapters, k) for k in keys) or "",
            "Status": r.status,
            "Message": r.message,
            "Finished (ET)": r.finished_at.astimezone(ET).strftime("%H:%M:%S") if r.finished_at else "",
            "Request": r.id,
        })
    frame = pd.DataFrame(records, columns=AUDIT_COLUMNS)
    frame["Run"] = frame["Run"].astype("Int64")
    return frame


def _short(adapters: Any, key: str) -> str:
    try:
        return str(adapters.spec.task(key).short_key)
    except ConsoleError:
        return key


AUDIT_LOG_COLUMNS = ["When (ET)", "Who", "Role", "Action", "Outcome", "Business date", "Run", "Target", "Detail"]


def audit_frame(adapters: Any, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The audit log from ``start`` to ``end`` (ET calendar days, both included), newest first."""
    from console import audit

    since = dt.datetime(start.year, start.month, start.day, tzinfo=ET)
    until = dt.datetime(end.year, end.month, end.day, tzinfo=ET) + dt.timedelta(days=1)
    records = []
    for r in audit.entries(adapters.store, since, until):
        detail = json.loads(r["detail"] or "{}")
        words = "; ".join(f"{k}: {v}" for k, v in detail.items() if v not in (None, "", {}))
        records.append({
            "When (ET)": r["at"].astimezone(ET).strftime("%Y-%m-%d %H:%M:%S"), "Who": r["actor"], "Role": r["role"],
            "Action": r["action"], "Outcome": r["outcome"],
            "Business date": r["business_date"].isoformat() if r["business_date"] else "",
            "Run": r["run_id"], "Target": ", ".join(_short(adapters, k) for k in (r["target"] or "").split(",") if k)
            if r["action"] in ("repair", "rerun_from", "trigger", "cancel") else r["target"],
            "Detail": words,
        })
    frame = pd.DataFrame(records, columns=AUDIT_LOG_COLUMNS)
    frame["Run"] = frame["Run"].astype("Int64")
    return frame


# ------------------------------------------------------------------------------------------------ demo
def demo_anomaly_dates(adapters: Any, anomalies: tuple[Any, ...]) -> list[tuple[dt.date | None, Any]]:
    """The business date each seeded anomaly landed on, from the demo build's record (None if unknown)."""
    with adapters.store.connect() as conn:
        meta = {r.key: json.loads(r.value) for r in conn.execute(sa.select(demo_meta))}
    if not meta.get("first_day") or not meta.get("days"):
        return [(None, a) for a in anomalies]
    from console.clock import business_days

    first = dt.date.fromisoformat(meta["first_day"])
    built = business_days(first, first + dt.timedelta(days=int(meta["days"]) * 2 + 30))[: int(meta["days"])]
    return [(built[-1 - a.days_ago] if a.days_ago < len(built) else None, a) for a in anomalies]
