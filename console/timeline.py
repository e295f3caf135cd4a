"""The day's milestones: planned time against what actually happened."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from console.clock import at_et, hhmm
from console.eta import AT_RISK as ETA_AT_RISK
from console.eta import WILL_MISS, Eta
from console.model import Run, TaskState
from console.settings import Settings

PENDING, RUNNING, DONE, LATE, FAILED, AT_RISK = "pending", "running", "done", "late", "failed", "at_risk"


@dataclass
class MilestoneState:
    key: str
    name: str
    planned: dt.datetime
    status: str  # pending | running | done | late | failed | at_risk
    actual: dt.datetime | None
    detail: str


@dataclass
class DayFacts:
    """What the warehouse and the engine say about a business date (inputs to the milestone states)."""

    run: Run | None
    upload_finished: dt.datetime | None  # newest import-log FINISHED_AT, None if nothing uploaded
    upload_lists: int
    export_landed: dt.datetime | None  # newest results INGESTED_AT, None if nothing landed
    export_rows: int


def _finished_status(planned: dt.datetime, actual: dt.datetime) -> str:
    return DONE if actual <= planned else LATE


def milestone_states(settings: Settings, day: dt.date, now: dt.datetime, facts: DayFacts,
                     eta: Eta | None = None, grace_minutes: int = 15) -> list[MilestoneState]:
    """One state per configured milestone at ``now``; ``eta`` turns a running workflow "at risk"."""
    risky = eta is not None and eta.verdict in (ETA_AT_RISK, WILL_MISS) and eta.expected_finish is not None
    expected = (f" Expected finish {hhmm(eta.expected_finish)} ET (at worst {hhmm(eta.pessimistic_finish)})."
                if eta is not None and eta.expected_finish else "")
    out = []
    run = facts.run
    for m in settings.milestones:
        planned = at_et(day, m.time)
        overdue = now > planned + dt.timedelta(minutes=grace_minutes)
        status, actual, detail = PENDING, None, "Not yet due."
        if m.key == "workflow_start":
            if run and run.start:
                actual = run.start
                status = _finished_status(planned + dt.timedelta(minutes=grace_minutes), actual)
                detail = f"Run {run.run_id} started."
            elif overdue:
                status, detail = LATE, "No workflow run has started."
            elif now > planned:
                minutes = int((now - planned).total_seconds() // 60)
                status, detail = AT_RISK, f"Not started yet, {minutes} min after the scheduled start."
        elif m.key == "workflow_target":
            if run and run.state == TaskState.SUCCEEDED and run.end:
                actual = run.end
                status = _finished_status(planned, actual)
                detail = f"All {len(run.tasks)} tasks succeeded."
            elif run and run.state.is_terminal:
                actual, status = run.end, FAILED
                detail = run.state_message or f"Run {run.run_id} {run.state.label}."
            elif run and run.start:
                status = LATE if now > planned else AT_RISK if risky else RUNNING
                detail = f"{run.done_count} of {len(run.tasks)} tasks done.{expected}"
            elif now > planned:
                status, detail = LATE, "The workflow has not run."
            elif risky and now >= at_et(day, settings.milestone("workflow_start").time):
                status, detail = AT_RISK, f"Not started.{expected}"
        elif m.key == "genesys_upload":
            if facts.upload_finished:
                actual = facts.upload_finished
                status = _finished_status(planned + dt.timedelta(minutes=30), actual)
                detail = f"{facts.upload_lists} lists in the Genesys import log."
            elif now > planned + dt.timedelta(minutes=30):
                status, detail = LATE, "Nothing in the Genesys import log for this date."
            elif now > planned:
                status, detail = RUNNING, "Upload window (about 30 minutes)."
        elif m.key == "ready":
            workflow_ok = run is not None and run.state == TaskState.SUCCEEDED
            if facts.upload_finished and workflow_ok:
                actual = max(facts.upload_finished, run.end) if run and run.end else facts.upload_finished
                status = _finished_status(planned, actual)
                detail = "Lists generated and uploaded."
            elif run is not None and run.state.is_terminal and not workflow_ok and now > planned:
                status, detail = FAILED, "The workflow did not succeed."
            elif now > planned:
                status, detail = LATE, "Lists are not all generated and uploaded."
        elif m.key == "results_export":
            if facts.export_landed:
                actual = facts.export_landed
                status = _finished_status(planned + dt.timedelta(minutes=60), actual)
                detail = f"{facts.export_rows:,} result records landed."
            elif now > planned + dt.timedelta(minutes=60):
                status, detail = LATE, "No campaign results have landed for this date."
            elif now > planned:
                status, detail = RUNNING, "Export in progress (Genesys → Kafka → Snowflake)."
        out.append(MilestoneState(m.key, m.name, planned, status, actual, detail))
    return out
