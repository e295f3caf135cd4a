"""Domain types shared by the engine adapters, the pages, the worker and the CLI."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pandas as pd


class TaskState(StrEnum):
    """A task's (or run's) state as the console shows it, whatever engine reported it."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


TERMINAL = {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.CANCELED,
            TaskState.SKIPPED}
RERUNNABLE = {TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.CANCELED}

# Databricks RunResultState values and what they mean here.
_RESULT_TO_STATE = {
    "SUCCESS": TaskState.SUCCEEDED,
    "SUCCESS_WITH_FAILURES": TaskState.SUCCEEDED,
    "FAILED": TaskState.FAILED,
    "TIMEDOUT": TaskState.FAILED,
    "MAXIMUM_CONCURRENT_RUNS_REACHED": TaskState.FAILED,
    "UPSTREAM_FAILED": TaskState.UPSTREAM_FAILED,
    "CANCELED": TaskState.CANCELED,
    "UPSTREAM_CANCELED": TaskState.CANCELED,
    "EXCLUDED": TaskState.SKIPPED,
    "DISABLED": TaskState.SKIPPED,
}
# Databricks RunLifeCycleState values for a run that has no result yet.
_LIFE_CYCLE_TO_STATE = {
    "QUEUED": TaskState.QUEUED,
    "PENDING": TaskState.PENDING,
    "BLOCKED": TaskState.PENDING,
    "WAITING_FOR_RETRY": TaskState.RUNNING,
    "RUNNING": TaskState.RUNNING,
    "TERMINATING": TaskState.RUNNING,
    "SKIPPED": TaskState.SKIPPED,
    "INTERNAL_ERROR": TaskState.FAILED,
}


def console_state(life_cycle: str | None, result: str | None) -> TaskState:
    """Map a Databricks-shaped (life cycle, result) pair to a console state; unknown values → UNKNOWN."""
    if result:
        return _RESULT_TO_STATE.get(result, TaskState.UNKNOWN)
    if life_cycle == "TERMINATED":
        return TaskState.UNKNOWN
    return _LIFE_CYCLE_TO_STATE.get(life_cycle or "", TaskState.UNKNOWN)


@dataclass
class TaskRun:
    task_key: str
    state: TaskState
    attempt: int = 0
    life_cycle_state: str = ""
    result_state: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    setup_seconds: float | None = None
    execution_seconds: float | None = None
    error_message: str | None = None
    error_trace: str | None = None
    repair_id: int | None = None
    output: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.start and self.end:
            return (self.end - self.start).total_seconds()
        return None


@dataclass
class Run:
    run_id: int
    job_name: str
    business_date: dt.date
    state: TaskState
    life_cycle_state: str
    result_state: str | None
    trigger: str
    requested_by: str
    start: dt.datetime | None
    end: dt.datetime | None
    state_message: str = ""
    source: str = "engine"
    tasks: list[TaskRun] = field(default_factory=list)  # latest attempt of each task
    attempts: list[TaskRun] = field(default_factory=list)  # every attempt, oldest first
    repairs: list[dict[str, object]] = field(default_factory=list)
    run_page_url: str | None = None
    cluster_ids: list[str] = field(default_factory=list)  # the job cluster(s) the run used (Databricks)

    def task(self, key: str) -> TaskRun | None:
        return next((t for t in self.tasks if t.task_key == key), None)

    @property
    def done_count(self) -> int:
        return sum(1 for t in self.tasks if t.state == TaskState.SUCCEEDED)


@dataclass
class ActionResult:
    """What happened when a person asked for an action: shown on the page as is."""

    ok: bool
    message: str
    request_id: int | None = None
    run_id: int | None = None
    duplicate: bool = False  # the same idempotency key was already requested: nothing new was queued


# ------------------------------------------------------------------------------------------------ checks
# A data-quality check's status: pass, warn (worth a look, not a failure), fail, n/a (not due or nothing to check).
PASS, WARN, FAIL, NA = "pass", "warn", "fail", "n/a"
STATUSES = (PASS, WARN, FAIL, NA)


@dataclass
class CheckResult:
    name: str  # a stable key, e.g. suppression_leaks
    title: str  # what a person reads
    status: str  # pass | warn | fail | n/a
    evidence: str  # the finding in words
    numbers: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "status": self.status, "evidence": self.evidence,
                "numbers": self.numbers}


# ------------------------------------------------------------------------------------------------ reconciliation
# How a list's generated → accepted → exported counts compare (console.reconcile.classify).
MATCHED, PENDING, MISMATCH = "matched", "pending", "mismatch"
ROW_COLUMNS = ["LIST_NAME", "CHANNEL", "GENERATED", "SENT", "ACCEPTED", "EXPORTED", "STATUS", "REASON"]


@dataclass
class Reconciliation:
    """A reconciliation of one date: the rows, the checks, and where it came from."""

    business_date: dt.date
    rows: pd.DataFrame
    checks: list[CheckResult]
    at: dt.datetime
    run_id: int | None = None  # None: computed live, not stored
    requested_by: str = ""
    failure: dict[str, Any] | None = None  # the newest failed run, if newer than this result
    rows_transferred: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def pairs(self) -> int:
        return len(self.rows)

    @property
    def matched(self) -> int:
        return int((self.rows["STATUS"] == MATCHED).sum())

    @property
    def mismatches(self) -> pd.DataFrame:
        return self.rows[self.rows["STATUS"] == MISMATCH]

    @property
    def match_rate(self) -> float | None:
        return self.matched / self.pairs if self.pairs else None

    def to_json(self) -> dict[str, Any]:
        return {
            "business_date": self.business_date.isoformat(),
            "at": self.at.isoformat(),
            "run_id": self.run_id,
            "requested_by": self.requested_by,
            "match_rate": self.match_rate,
            "lists": [{"list_name": r.LIST_NAME, "channel": r.CHANNEL, "generated": int(r.GENERATED),
                       "uploaded": None if pd.isna(r.ACCEPTED) else int(r.ACCEPTED),
                       "sent": None if pd.isna(r.SENT) else int(r.SENT), "exported": int(r.EXPORTED),
                       "status": r.STATUS, "reason": r.REASON} for r in self.rows.itertuples()],
            "checks": [c.to_json() for c in self.checks],
            "failure": self.failure,
        }


# ------------------------------------------------------------------------------------------------ alerts
# An alert's lifecycle states and severities (console.alerts).
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
WARNING, CRITICAL = "warning", "critical"
