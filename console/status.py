"""The status of a business date in one structure: what ``status --json`` prints and the status pages show.

Reading and judging are separate: ``console.facts`` does all the I/O (engine, warehouse and state DB; the
pages cache it, shared by every session); ``day_status`` turns those facts and the clock into milestone
states, the ETA, the checklist and one overall verdict (``console.verdict``) without any further I/O.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from console import checklist
from console import eta as eta_module
from console.adapters.protocols import Adapters
from console.clock import ET, Clock, SystemClock, at_et, business_date, is_business_day
from console.errors import InvalidRequest
from console.facts import DayReads, WorkerStatus, read_day, read_history, worker_status
from console.timeline import DayFacts, milestone_states
from console.verdict import DayStatus, overall

logger = logging.getLogger(__name__)


MAX_DAYS_BACK = 5 * 365  # the oldest business date a person may ask for


def check_date(day: dt.date, clock: Clock, earliest: dt.date | None = None) -> dt.date:
    """Validate a business date asked for by a person; raise ``InvalidRequest`` saying why not."""
    today = clock.now().astimezone(ET).date()
    oldest = today - dt.timedelta(days=MAX_DAYS_BACK)
    if day < oldest:  # (0001-01-03 gave "unexpected OverflowError")
        raise InvalidRequest(f"{day} is more than {MAX_DAYS_BACK // 365} years before today ({today}): no run of the "
                             "pipeline is that old.", f"Pick a date from {oldest} on.")
    if day > today:
        raise InvalidRequest(f"{day} is in the future (today is {today} in ET).", "Pick today or an earlier date.")
    if not is_business_day(day):
        raise InvalidRequest(f"{day} is not a business day (weekend or US holiday): the workflow does not run.",
                             "Pick a weekday that is not a holiday.")
    if earliest and day < earliest:
        raise InvalidRequest(f"{day} is before the first day with data ({earliest}).", f"Pick {earliest} or later.")
    return day


def day_status(adapters: Adapters, day: dt.date | None = None, clock: Clock | None = None,
               reads: DayReads | None = None, history: list[dict[str, Any]] | None = None,
               worker: WorkerStatus | None = None) -> DayStatus:
    """Everything about one business date; reads not given are made here."""
    clock = clock or SystemClock()
    now = clock.now()
    settings = adapters.settings
    day = day or business_date(now, settings.day_rolls_at)
    reads = reads or read_day(adapters, day, now)
    history = read_history(adapters, day) if history is None else history
    run = reads.run
    estimate = None
    if reads.engine_error is None or reads.stale_since is not None:
        stats = eta_module.duration_stats(
            history, adapters.spec, quantile=settings.eta["quantile"],
            weekday=day.weekday() if settings.eta["weekday_weight"] > 1 else None,
            weekday_weight=settings.eta["weekday_weight"], fallback_seconds=settings.eta["fallback_minutes"] * 60)
        estimate = eta_module.estimate(adapters.spec, run, stats, now,
                                       at_et(day, settings.milestone("workflow_target").time),
                                       at_et(day, settings.milestone("workflow_start").time))
    facts = DayFacts(run, reads.upload_finished, reads.upload_lists, reads.export_landed, reads.export_rows)
    milestones = milestone_states(settings, day, now, facts, estimate)
    status = DayStatus(
        mode=adapters.mode, business_date=day, now=now, reads=reads, milestones=milestones,
        worker=worker if worker is not None else worker_status(adapters), task_order=adapters.spec.keys,
        eta=estimate, overall=overall(adapters.spec, run, milestones, estimate, now, reads.reconciliation,
                                      reads.releases),
    )
    status.checklist = checklist.evaluate(settings.checklist, status, reads.checklist_events)
    return status


