"""The status of a business date in one structure: what ``status --json`` prints and Home shows."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from console import pipeline_data
from console.clock import ET, Clock, SystemClock, business_date, is_business_day
from console.errors import ConsoleError, InvalidRequest
from console.model import Run
from console.settings import Adapters
from console.timeline import DayFacts, MilestoneState, milestone_states
from console.worker import WorkerStatus, worker_status

logger = logging.getLogger(__name__)


@dataclass
class DayStatus:
    mode: str
    business_date: dt.date
    now: dt.datetime
    run: Run | None
    lists: pd.DataFrame
    milestones: list[MilestoneState]
    worker: WorkerStatus
    warehouse_error: str | None = None
    task_order: list[str] = field(default_factory=list)

    @property
    def workflow_state(self) -> str:
        if self.run is None:
            return "not_started"
        return self.run.state.value

    def to_json(self) -> dict[str, Any]:
        def iso(moment: dt.datetime | None) -> str | None:
            return moment.astimezone(ET).isoformat() if moment else None

        run = self.run
        tasks = run.tasks if run else []
        return {
            "mode": self.mode,
            "demo_data": self.mode == "embedded",
            "business_date": self.business_date.isoformat(),
            "generated_at": iso(self.now),
            "workflow": {
                "state": self.workflow_state,
                "run_id": run.run_id if run else None,
                "start": iso(run.start) if run else None,
                "end": iso(run.end) if run else None,
                "message": run.state_message if run else "No run for this business date yet.",
                "tasks_done": run.done_count if run else 0,
                "tasks_total": len(self.task_order),
                "tasks": [{"task_key": t.task_key, "state": t.state.value, "attempt": t.attempt,
                           "start": iso(t.start), "end": iso(t.end), "error": t.error_message} for t in tasks],
            },
            "lists": [{"list_name": r.LIST_NAME, "channel": r.CHANNEL, "destination": r.DESTINATION,
                       "records": int(r.RECORDS)} for r in self.lists.itertuples()],
            "milestones": [{"key": m.key, "name": m.name, "planned": iso(m.planned), "status": m.status,
                            "actual": iso(m.actual), "detail": m.detail} for m in self.milestones],
            "worker": {"alive": self.worker.alive, "message": self.worker.message,
                       "heartbeat": iso(self.worker.beat_at)},
            "warehouse_error": self.warehouse_error,
        }


def check_date(day: dt.date, clock: Clock, earliest: dt.date | None = None) -> dt.date:
    """Validate a business date asked for by a person; raise ``InvalidRequest`` saying why not."""
    today = clock.now().astimezone(ET).date()
    if day > today:
        raise InvalidRequest(f"{day} is in the future (today is {today} in ET).", "Pick today or an earlier date.")
    if not is_business_day(day):
        raise InvalidRequest(f"{day} is not a business day (weekend or US holiday): the workflow does not run.",
                             "Pick a weekday that is not a holiday.")
    if earliest and day < earliest:
        raise InvalidRequest(f"{day} is before the first day with data ({earliest}).", f"Pick {earliest} or later.")
    return day


def day_status(adapters: Adapters, day: dt.date | None = None, clock: Clock | None = None) -> DayStatus:
    """Everything about one business date; a warehouse that is down is reported, not raised."""
    clock = clock or SystemClock()
    now = clock.now()
    day = day or business_date(now)
    run = adapters.engine.run_for_date(day)
    lists = pd.DataFrame(columns=["LIST_NAME", "CHANNEL", "DESTINATION", "RECORDS", "GENERATED_AT"])
    facts = DayFacts(run, None, 0, None, 0)
    warehouse_error = None
    try:
        with adapters.warehouse.session() as session:
            lists = pipeline_data.list_counts(session, adapters.settings.tables, day)
            facts.upload_finished, facts.upload_lists = pipeline_data.upload_summary(
                session, adapters.settings.tables, day)
            facts.export_landed, facts.export_rows = pipeline_data.export_summary(
                session, adapters.settings.tables, day)
    except ConsoleError as exc:
        warehouse_error = str(exc)
    except Exception as exc:  # a missing table on a fresh warehouse, a SQL error: say it, keep the page up
        logger.warning("warehouse read for %s failed: %s", day, exc)
        warehouse_error = f"Could not read the warehouse: {type(exc).__name__}: {str(exc)[:300]}"
    return DayStatus(
        mode=adapters.mode, business_date=day, now=now, run=run, lists=lists,
        milestones=milestone_states(adapters.settings, day, now, facts), worker=worker_status(adapters),
        warehouse_error=warehouse_error, task_order=adapters.spec.keys,
    )
