"""The business calendar of the list jobs: America/New_York, weekdays minus US federal holidays.

Pure functions of dates: the cluster tasks use them without the console, and ``console.clock`` re-exports
them for the console's own callers. One exception, ``now_et``: the current time, which follows a rehearsal's
clock when ``CONSOLE_CLOCK_FILE`` is set (see ``rehearsal_offset``). Production never sets it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from zoneinfo import ZoneInfo

ET = ZoneInfo("America/New_York")

# The rehearsal clock hook. The workspace emulator (rehearsal/clock.py) writes its clock to this file as an
# offset from real time, {"offset_seconds": ...}; every process of a rehearsal (UI, worker, wheel tasks) that
# has the variable set adds the offset to real time, so they all see the emulator's time. Unset (always, in
# production): real time.
CLOCK_FILE_ENV = "CONSOLE_CLOCK_FILE"
_offset_cache: tuple[str, int, int, int, float] | None = None  # (path, inode, mtime_ns, size, offset seconds)


class ClockFileError(RuntimeError):
    """``CONSOLE_CLOCK_FILE`` is set but the file cannot be read; the message says what to do."""


def rehearsal_clock_file() -> Path | None:
    """The rehearsal clock file when this process follows one (``CONSOLE_CLOCK_FILE``), else None."""
    value = os.environ.get(CLOCK_FILE_ENV, "").strip()
    return Path(value) if value else None


def rehearsal_offset() -> dt.timedelta:
    """How far the rehearsal clock is ahead of real time (zero without ``CONSOLE_CLOCK_FILE``).

    The file is read again only when it is replaced (one ``stat`` per call), so ``now_et`` stays cheap.
    """
    global _offset_cache
    path = rehearsal_clock_file()
    if path is None:
        return dt.timedelta(0)
    try:
        stat = path.stat()
        cached = _offset_cache
        if cached and cached[:4] == (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size):
            return dt.timedelta(seconds=cached[4])
        offset = float(json.loads(path.read_text(encoding="utf-8"))["offset_seconds"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClockFileError(
            f"{CLOCK_FILE_ENV}={path}: cannot read the rehearsal clock ({type(exc).__name__}: {exc}). Start the "
            "rehearsal's workspace emulator (it writes this file), or unset the variable to use real time.") \
            from None
    _offset_cache = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size, offset)
    return dt.timedelta(seconds=offset)


def now_et() -> dt.datetime:
    """The current time in Eastern time: real time, or the rehearsal's clock when ``CONSOLE_CLOCK_FILE`` is set."""
    return dt.datetime.now(ET) + rehearsal_offset()


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: dt.date) -> dt.date:
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


def us_holidays(year: int) -> set[dt.date]:
    """US federal (Federal Reserve) holidays, observed dates; the days the list jobs do not run."""
    fixed = [dt.date(year, 1, 1), dt.date(year, 6, 19), dt.date(year, 7, 4), dt.date(year, 11, 11),
             dt.date(year, 12, 25)]
    days = {_observed(d) for d in fixed}
    days |= {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Presidents' Day
        _last_weekday(year, 5, 0),  # Memorial Day
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 10, 0, 2),  # Columbus Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
    }
    return days


def is_business_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in us_holidays(day.year)


def previous_business_day(day: dt.date) -> dt.date:
    day -= dt.timedelta(days=1)
    while not is_business_day(day):
        day -= dt.timedelta(days=1)
    return day


def next_business_day(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def business_date(now: dt.datetime, rolls_at: str = "00:00") -> dt.date:
    """The business date the console shows at ``now``: today in ET if a business day, else the last one.

    Before ``rolls_at`` (HH:MM ET) the calendar day counts as the day before (the night shift's day).
    """
    local = now.astimezone(ET)
    hour, minute = (int(part) for part in rolls_at.split(":"))
    today = local.date() if (local.hour, local.minute) >= (hour, minute) else local.date() - dt.timedelta(days=1)
    return today if is_business_day(today) else previous_business_day(today)


def business_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Business days from ``start`` to ``end``, both included."""
    days = []
    day = start
    while day <= end:
        if is_business_day(day):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def last_business_days(end: dt.date, count: int) -> list[dt.date]:
    """The ``count`` business days ending at ``end`` (included when it is one), oldest first."""
    days: list[dt.date] = []
    day = end if is_business_day(end) else previous_business_day(end)
    while len(days) < count:
        days.append(day)
        day = previous_business_day(day)
    return sorted(days)


def at_et(day: dt.date, hhmm: str) -> dt.datetime:
    """``day`` at ``HH:MM`` Eastern time, as an aware datetime."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ET)
