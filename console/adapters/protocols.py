"""What the rest of the console may ask of each external system, declared once.

Every adapter module implements one of these Protocols (checked by mypy, structurally: no base class to
inherit). ``Adapters`` is the set the composition root (``console.app.build_adapters``) hands to the
services, the worker and the pages; nothing below the composition root builds one.

- ``Engine``: where workflow runs live and are started, repaired and cancelled. Implemented by
  ``adapters.local_engine.LocalEngine`` (runs the ``jobs/`` tasks here) and
  ``adapters.databricks.DatabricksEngine`` (Databricks Jobs API 2.2). The contract test suite is
  ``tests/test_engine_contract.py``.
- ``Warehouse``: Snowpark sessions lent one thread at a time (``adapters.warehouse.Warehouse`` over the
  embedded fakesnow server or Snowflake).
- ``StateStore``: the console's own database (``console.store.StateStore``: SQLite or PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from console.adapters.meter import Meter
from console.model import ActionResult, Run
from console.settings import Settings
from console.utilization import RunCost, RunUsage
from console.workflow import WorkflowSpec
from jobs.context import TaskContext

if TYPE_CHECKING:
    import sqlalchemy as sa
    from snowflake.snowpark import Session


class StateStore(Protocol):
    """The console's state DB: ticks, audit, alerts, run records, the scheduler's jobs."""

    url: str
    engine: sa.Engine

    def begin(self) -> AbstractContextManager[Any]:
        """A connection (``sqlalchemy.Connection``) in a transaction, committed on success, rolled back on error."""
        ...

    def connect(self) -> AbstractContextManager[Any]:
        """A connection for reads."""
        ...

    def dispose(self) -> None: ...


class Warehouse(Protocol):
    """Snowpark sessions on the embedded warehouse or Snowflake."""

    label: str  # "embedded warehouse (127.0.0.1:47321)" or "Snowflake account …", for pages and doctor
    meter: Meter  # every statement of its sessions, counted by cost (console/adapters/meter.py)

    def session(self, timeout: float = 60.0) -> AbstractContextManager[Session]:
        """Lend a session to one thread for the ``with`` block.

        Raises:
            WarehouseUnavailable: no session could be opened or lent within ``timeout`` seconds.
        """
        ...

    def change_markers(self, session: Session, names: list[str]) -> dict[str, str | None]:
        """Each named table's change marker (None when it does not exist), read without a running warehouse."""
        ...

    def reset(self) -> None:
        """Drop every idle session (after the server restarted)."""
        ...


class Engine(Protocol):
    """A workflow engine: runs of the job spec per business date, and the actions people take on them.

    Reads raise ``console.errors.EngineUnavailable`` (with the last known state kept by the caller) when the
    engine cannot be reached within its read budget; actions raise ``InvalidRequest`` when the run's state
    does not allow them. Every action is a row in ``action_requests`` first (``submit``), so a double click
    is one request on either engine.
    """

    kind: str  # "local" | "databricks"
    reads: int  # state-store reads made for pages (the benches count them)

    @property
    def label(self) -> str:
        """Where runs live, in words (for the About panel and doctor)."""
        ...

    def list_runs(self, start: dt.date, end: dt.date, with_tasks: bool = True) -> list[Run]:
        """Runs of business dates ``start``..``end``, newest first."""
        ...

    def get_run(self, run_id: int) -> Run:
        """One run with its tasks and repairs. Raises ``NotFound``."""
        ...

    def run_for_date(self, day: dt.date) -> Run | None:
        """The latest run of the business date, or None."""
        ...

    def task_history(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """Per task attempt of the runs of ``start``..``end``: task key, business date, duration (the ETA's
        input)."""
        ...

    def cluster_events(self, run: Run, limit: int = 50) -> list[dict[str, Any]]:
        """The job cluster's notable events during ``run`` (none where tasks run without a cluster)."""
        ...

    def cluster_usage(self, run: Run) -> RunUsage | None:
        """The job cluster's node timeline, DBUs and cost of ``run`` (None: no record of a cluster for it).

        Raises ``EngineUnavailable`` when the records cannot be read within the read budget, and
        ``InvalidRequest`` when the engine cannot read them at all (no SQL warehouse, no system tables), with
        what to enable in its hint."""
        ...

    def cluster_costs(self, start: dt.date, end: dt.date) -> list[RunCost]:
        """DBUs, estimated cost and peak memory of the runs of business dates ``start``..``end`` (one read)."""
        ...

    def submit(self, kind: str, requested_by: str, idempotency_key: str, business_date: dt.date | None = None,
               run_id: int | None = None, task_keys: list[str] | None = None,
               not_after: dt.datetime | None = None) -> ActionResult:
        """Record an action request (trigger, repair, cancel) and carry it out or queue it for the worker; a
        queued one is not carried out after ``not_after`` (it expires, audited)."""
        ...

    def process_requests(self, background: Callable[[Callable[[], None]], object] | None = None) -> int:
        """Carry out queued requests (the worker calls this); returns how many were taken."""
        ...

    def open_requests(self, day: dt.date) -> list[dict[str, Any]]:
        """Action requests for ``day`` that are not finished (pending or running)."""
        ...

    def request_status(self, request_id: int) -> dict[str, Any]:
        """One action request as stored. Raises ``NotFound``."""
        ...

    def trigger(self, business_date: dt.date, requested_by: str, trigger: str = "SCHEDULE", rerun: bool = False,
                idempotency_key: str | None = None) -> Run:
        """Start a run of the job for ``business_date``."""
        ...

    def execute(self, run_id: int, wait_if_other: bool = True, poll: float = 0.5) -> Run:
        """Carry out (local) or wait for (Databricks) ``run_id`` until it is terminal."""
        ...

    def recover_orphans(self, today: dt.date | None = None) -> list[int]:
        """After a worker restart: runs left running by a stopped worker, marked failed; their ids (a run of a
        date before ``today`` that never started is marked failed too)."""
        ...


@dataclass
class Adapters:
    """Everything the pages, the worker and the CLI talk to, built once from settings by ``console.app``."""

    settings: Settings
    mode: str  # "embedded" | "production"
    spec: WorkflowSpec
    store: StateStore
    warehouse: Warehouse
    engine: Engine

    @property
    def is_demo(self) -> bool:
        return self.mode == "embedded"

    def task_context(self, session: Session, business_date: dt.date, task_key: str = "", run_id: int | None = None,
                     start_date: dt.date | None = None) -> TaskContext:
        """What a list task receives for ``business_date`` (the local engine's and the demo's runs)."""
        return task_context(self.settings, self.spec, session, business_date, task_key, run_id, start_date)


def task_context(settings: Settings, spec: WorkflowSpec, session: Session, business_date: dt.date,
                 task_key: str = "", run_id: int | None = None, start_date: dt.date | None = None) -> TaskContext:
    """A list task's context from settings: the session, the date(s), the table names and the SFTP folders."""
    return TaskContext(session=session, business_date=business_date, tables=settings.tables,
                       sftp_outbox=settings.sftp_outbox, sftp_inbox=settings.sftp_inbox,
                       task_key=spec.task(task_key).short_key if task_key else "", run_id=run_id,
                       start_date=start_date)
