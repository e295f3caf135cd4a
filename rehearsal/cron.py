"""Quartz cron expressions, as Databricks job schedules use them (``quartz_cron_expression``).

Fields: seconds, minutes, hours, day of month, month, day of week, and an optional year. Supported in each:
``*``, numbers, ranges ``a-b``, steps ``a/n``, ``*/n`` and ``a-b/n``, lists ``a,b``, month names JAN-DEC,
day names SUN-SAT (Quartz numbers days 1 = SUN … 7 = SAT), and ``?`` for "no specific value" in the day of
month or the day of week (Quartz requires it in exactly one of them). ``L``, ``W`` and ``#`` are not
supported: a schedule using them is refused with a message that says so.

Times are wall-clock times in the schedule's ``timezone_id``: a time that the spring DST change skips does not
fire that day, and a time that the autumn change repeats fires once (its first occurrence).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

MONTHS = {name: number for number, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
DAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
Field = tuple[str, int, int, dict[str, int]]  # name, lowest, highest, names of values
FIELDS: tuple[Field, ...] = (
    ("seconds", 0, 59, {}), ("minutes", 0, 59, {}), ("hours", 0, 23, {}), ("day of month", 1, 31, {}),
    ("month", 1, 12, MONTHS), ("day of week", 1, 7, DAYS), ("year", 1970, 2199, {}),
)
SEARCH_DAYS = 366 * 5  # a schedule that fires less often than this is treated as never firing


class CronError(ValueError):
    """The expression cannot be read; the message names the field, the value and what is supported."""


def _number(text: str, names: dict[str, int], field: str, expression: str) -> int:
    key = text.upper()
    if key in names:
        return names[key]
    if not key.isdigit():
        if any(mark in key for mark in ("L", "W", "#")):
            raise CronError(f"quartz cron {expression!r}: {field} {text!r} uses L, W or #, which this emulator does "
                            "not support; use plain values, ranges, steps and lists.")
        raise CronError(f"quartz cron {expression!r}: {field} {text!r} is not a number or a name.")
    return int(key)


def _field(text: str, index: int, expression: str) -> frozenset[int] | None:
    """The values a field allows; None for ``?``."""
    field, low, high, names = FIELDS[index]
    if text == "?":
        if index not in (3, 5):
            raise CronError(f"quartz cron {expression!r}: '?' is allowed only in the day of month or day of week.")
        return None
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = _number(step_text, {}, field, expression) if step_text else 1
        if step < 1:
            raise CronError(f"quartz cron {expression!r}: {field} step must be at least 1.")
        if spec == "*":
            first, last = low, high
        elif "-" in spec:
            start, end = spec.split("-", 1)
            first, last = _number(start, names, field, expression), _number(end, names, field, expression)
        else:
            first = _number(spec, names, field, expression)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high) or first > last:
            raise CronError(f"quartz cron {expression!r}: {field} {part!r} is outside {low}-{high}.")
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class QuartzCron:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # Quartz numbering: 1 = Sunday
    years: frozenset[int]

    @classmethod
    def parse(cls, expression: str) -> QuartzCron:
        parts = expression.split()
        if len(parts) not in (6, 7):
            raise CronError(f"quartz cron {expression!r}: expected 6 or 7 fields (seconds minutes hours "
                            f"day-of-month month day-of-week [year]); got {len(parts)}.")
        fields = [_field(text, index, expression) for index, text in enumerate(parts)]
        if len(fields) == 6:
            fields.append(frozenset(range(1970, 2200)))
        if (fields[3] is None) == (fields[5] is None):
            raise CronError(f"quartz cron {expression!r}: exactly one of day of month and day of week must be '?'.")
        for index in (0, 1, 2, 4, 6):
            if fields[index] is None:
                raise CronError(f"quartz cron {expression!r}: {FIELDS[index][0]} cannot be '?'.")
        return cls(expression, *fields)  # type: ignore[arg-type]

    def matches_day(self, day: dt.date) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        assert self.days_of_week is not None
        return (day.isoweekday() % 7) + 1 in self.days_of_week  # Monday (1) → 2, Sunday (7) → 1

    def next_after(self, moment: dt.datetime, timezone: str) -> dt.datetime | None:
        """The first firing strictly after ``moment`` (aware), as an aware UTC datetime; None if none soon."""
        tz = ZoneInfo(timezone)
        local = moment.astimezone(tz)
        day = local.date()
        for _ in range(SEARCH_DAYS):
            if self.matches_day(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        for second in sorted(self.seconds):
                            naive = dt.datetime(day.year, day.month, day.day, hour, minute, second)
                            candidate = naive.replace(tzinfo=tz)
                            if candidate.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) != naive:
                                continue  # skipped by the spring DST change
                            if candidate > moment:
                                return candidate.astimezone(dt.UTC)
            day += dt.timedelta(days=1)
        return None
