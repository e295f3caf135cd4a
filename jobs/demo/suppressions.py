"""Synthetic compliance suppressions: a few % of accounts, most older than the history, some arriving daily.

Each reason maps to the channel it blocks: do-not-call blocks calls, SMS opt-outs texts, unsubscribes
e-mail; bankruptcy, cease-and-desist, deceased, attorney representation and disputes block every channel.
Disputes are 45-day holds; everything else stays until lifted (END_DATE NULL).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from jobs.common import load_frame
from jobs.demo.portfolio import day_number

if TYPE_CHECKING:
    from snowflake.snowpark import Session

    from jobs.tables import TableNames

# (reason, channel, share among suppressions)
REASONS = (
    ("DO_NOT_CALL", "CALL", 0.28),
    ("SMS_OPT_OUT", "SMS", 0.22),
    ("EMAIL_UNSUBSCRIBE", "EMAIL", 0.22),
    ("BANKRUPTCY", "ALL", 0.08),
    ("CEASE_AND_DESIST", "ALL", 0.05),
    ("DECEASED", "ALL", 0.02),
    ("ATTORNEY_REPRESENTED", "ALL", 0.05),
    ("DISPUTE", "ALL", 0.08),
)
INITIAL_SHARE = 0.035  # of accounts, suppressed before the history starts
DAILY_SHARE = 0.00006  # of accounts, new suppressions per calendar day
DISPUTE_HOLD_DAYS = 45


def _rows(rng: np.random.Generator, account_ids: np.ndarray, count: int, start_days: np.ndarray) -> pd.DataFrame:
    weights = np.array([r[2] for r in REASONS])
    reason_index = rng.choice(len(REASONS), size=count, p=weights / weights.sum())
    reasons = np.array([r[0] for r in REASONS])[reason_index]
    channels = np.array([r[1] for r in REASONS])[reason_index]
    chosen = account_ids[rng.integers(0, len(account_ids), size=count)]
    end = np.where(reasons == "DISPUTE", start_days + DISPUTE_HOLD_DAYS, -1)
    return pd.DataFrame({
        "ACCOUNT_ID": chosen,
        "REASON": reasons,
        "CHANNEL": channels,
        "START_DATE": start_days.astype("datetime64[D]"),
        "END_DATE": pd.Series(end.astype("datetime64[D]")).where(end >= 0, pd.NaT),
    })


def initial_suppressions(seed: int, account_ids: np.ndarray, before: dt.date) -> pd.DataFrame:
    """Suppressions that started in the two years before ``before``."""
    rng = np.random.default_rng([seed, 5])
    count = int(len(account_ids) * INITIAL_SHARE)
    starts = day_number(before) - rng.integers(1, 730, size=count)
    return _rows(rng, account_ids, count, starts)


def daily_suppressions(seed: int, account_ids: np.ndarray, day: dt.date) -> pd.DataFrame:
    """The suppressions that start on calendar day ``day`` (deterministic per seed and day)."""
    rng = np.random.default_rng([seed, 6, day_number(day)])
    count = int(rng.poisson(len(account_ids) * DAILY_SHARE))
    return _rows(rng, account_ids, count, np.full(count, day_number(day)))


def add_daily_suppressions(session: Session, tables: TableNames, seed: int, account_ids: np.ndarray,
                           first: dt.date, last: dt.date) -> int:
    """(Re)write the suppressions starting on each calendar day ``first..last``; idempotent."""
    if last < first:
        return 0
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    frame = pd.concat([daily_suppressions(seed, account_ids, day) for day in days], ignore_index=True)
    session.sql(f"DELETE FROM {tables.suppressions} WHERE START_DATE BETWEEN '{first}' AND '{last}'").collect()
    if len(frame):
        load_frame(session, frame, tables.suppressions)
    return len(frame)
