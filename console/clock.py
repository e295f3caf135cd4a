"""Business dates and Eastern-time helpers. Time is injected: everything takes a ``Clock``.

The calendar itself (holidays, business days) is ``jobs.business_calendar``, re-exported here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

# The business calendar lives in jobs/ (the cluster tasks need it and must not import the console);
# re-exported here so the console keeps importing every date helper from console.clock.
from jobs.business_calendar import (
    CLOCK_FILE_ENV,
    ET,
    ClockFileError,
    at_et,
    business_date,
    business_days,
    is_business_day,
    last_business_days,
    next_business_day,
    now_et,
    previous_business_day,
    rehearsal_clock_file,
    rehearsal_offset,
    us_holidays,
)

__all__ = [
    "CLOCK_FILE_ENV",
    "ET",
    "Clock",
    "ClockFileError",
    "FrozenClock",
    "SystemClock",
    "at_et",
    "business_date",
    "business_days",
    "fmt_et",
    "hhmm",
    "hhmm_of",
    "is_business_day",
    "last_business_days",
    "next_business_day",
    "previous_business_day",
    "rehearsal_clock",
    "us_holidays",
]


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """Real time; in a rehearsal (``CONSOLE_CLOCK_FILE`` set) the workspace emulator's clock instead."""

    def __init__(self, tz: ZoneInfo = ET) -> None:
        self.tz = tz

    def now(self) -> dt.datetime:
        return now_et().astimezone(self.tz)


def rehearsal_clock() -> str | None:
    """A one-line notice when this process runs on a rehearsal's clock (for a banner), else None (production)."""
    path = rehearsal_clock_file()
    if path is None:
        return None
    offset = dt.timedelta(seconds=round(rehearsal_offset().total_seconds()))
    sign = "+" if offset >= dt.timedelta(0) else "-"
    return (f"Rehearsal clock: {now_et():%a %d %b %Y %H:%M:%S} ET (real time {sign} {abs(offset)}), "
            f"set by the workspace emulator through {CLOCK_FILE_ENV}={path}.")


@dataclass
class FrozenClock:
    """A clock that stays where it is put (tests)."""

    at: dt.datetime

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at = self.at + dt.timedelta(**delta)


def hhmm(moment: dt.datetime | None) -> str:
    """``07:41`` in Eastern time, or an em dash: how every page, message and report shows a time of day."""
    return moment.astimezone(ET).strftime("%H:%M") if moment else "—"


def hhmm_of(moment: dt.datetime | None, day: dt.date) -> str:
    """``hhmm`` for a moment of business date ``day``, with its own date when it fell on another day (a run
    repaired the next morning finished at "07:00 Thu 26 Nov", not at a "07:00" that reads as before 08:00)."""
    if moment is None or moment.astimezone(ET).date() == day:
        return hhmm(moment)
    return f"{hhmm(moment)} {moment.astimezone(ET):%a %d %b}"


def fmt_et(moment: dt.datetime | None) -> str:
    return moment.astimezone(ET).strftime("%H:%M:%S ET") if moment else "—"
