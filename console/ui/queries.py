"""Reads the pages need beyond ``day_status``: the volume history, the audit trail, the demo's anomaly dates.

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

from console import audit, demo, volumes
from console.clock import ET
from console.errors import ConsoleError, NotFound, WarehouseUnavailable

logger = logging.getLogger(__name__)

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


# ------------------------------------------------------------------------------------------------ volumes
def volume_history(adapters: Any, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Daily aggregate rows from ``start`` to ``end`` (``console.volumes``); built once when still empty."""

    tables = adapters.settings.tables
    with _warehouse(adapters, f"the daily volumes table {tables.daily_volumes}") as session:
        volumes.backfill_if_empty(session, tables)
        return volumes.daily_volumes(session, tables, start, end)


# ------------------------------------------------------------------------------------------------ audit
def _short(adapters: Any, key: str) -> str:
    try:
        return str(adapters.spec.task(key).short_key)
    except ConsoleError:
        return key


AUDIT_LOG_COLUMNS = ["When (ET)", "Who", "Role", "Action", "Outcome", "Business date", "Run", "Target", "Detail"]


def audit_frame(adapters: Any, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The audit log from ``start`` to ``end`` (ET calendar days, both included), newest first."""

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
    return demo.anomaly_dates(adapters, anomalies)
