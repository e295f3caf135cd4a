"""Domain types shared by the engine adapters, the pages, the worker and the CLI."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


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
