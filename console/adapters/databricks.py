"""The production workflow engine: Databricks Jobs (API 2.2) through ``databricks-sdk``.

Same interface as ``LocalEngine`` (reads of runs and tasks, ``submit`` of actions, the request log), so the
pages, the CLI and the worker do not know which engine they talk to. Differences that matter:

- Reads use a short budget (``read_budget_seconds``, retries included): a slow or unreachable workspace
  raises ``EngineUnavailable`` within it and the page shows the last known state. A retry the SDK would
  sleep past the budget for (a 503 or 429 with a long Retry-After) is not waited for at all.
- Actions call the API at once with a longer budget, each recorded first in ``action_requests`` (the
  idempotency key makes a double click one request). ``run_now`` sends an ``idempotency_token`` derived from
  the key, so a POST the SDK retries after a timeout starts one run. A repair sends ``latest_repair_id``;
  when its POST fails after a retry, the run's repair history is read again before saying it failed.
- Every state the API returns maps to a console state (``status`` + ``termination_details`` first, the
  deprecated ``state`` as fallback); a value the SDK does not know arrives as ``None`` and shows "unknown".
- The business date of a run is its ``business_date`` job parameter (deploy-job defines it), else the ET
  date of its start.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import hashlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from console.adapters.action_log import ActionRequestLog
from console.clock import ET
from console.errors import ConsoleError, EngineUnavailable, InvalidRequest, NotFound
from console.model import ActionResult, Run, TaskRun, TaskState, console_state
from console.store import StateStore
from console.utilization import NodeMinute, RunCost, RunUsage
from console.workflow import WorkflowSpec

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

    from console.settings import DatabricksSettings

logger = logging.getLogger(__name__)
T = TypeVar("T")

BUSINESS_DATE_PARAM = "business_date"
RECENT_DAYS = 7  # a run of date D may start up to this many days later (a rerun of a past date)
MAX_RUNS_PER_DAY = 4  # how many runs per business day a window read may page through, at most
WINDOW_DAYS = 28  # a longer read is split into windows this long, read side by side (~20 runs, one page each)
CONNECT_WAIT = 15.0  # seconds doctor waits for the client (host probe, OAuth token) before reading

STATEMENT_POLL_SECONDS = 0.2  # between polls of a statement still running on the SQL warehouse
STATEMENT_ROW_LIMIT = 20_000  # a 60-minute run of 9 nodes is ~540 rows; a cap, never a page of all history

# The job cluster's minutes during a run (node_timeline is one row per node per minute).
NODE_TIMELINE_SQL = """
SELECT instance_id, driver, date_trunc('MINUTE', start_time) AS minute, cpu_user_percent, cpu_system_percent,
       cpu_wait_percent, mem_used_percent
FROM system.compute.node_timeline
WHERE cluster_id IN ({clusters}) AND start_time >= :since AND start_time < :until
ORDER BY minute, instance_id
"""
# The run's DBUs and list cost (the price in force at the time of use).
RUN_USAGE_SQL = """
SELECT SUM(u.usage_quantity) AS dbus, SUM(u.usage_quantity * p.pricing.default) AS list_cost,
       MAX(p.currency_code) AS currency_code
FROM system.billing.usage u
LEFT JOIN system.billing.list_prices p ON u.sku_name = p.sku_name AND u.cloud = p.cloud
  AND u.usage_start_time >= p.price_start_time AND (p.price_end_time IS NULL OR u.usage_start_time < p.price_end_time)
WHERE u.usage_metadata.job_run_id = :job_run_id AND u.usage_date >= :since AND u.usage_unit = 'DBU'
"""
# Every run of the job in a window: DBUs and cost (billing) beside the peak memory of its clusters (the task
# run timeline names each task's compute).
RUN_COSTS_SQL = """
WITH cost AS (
  SELECT u.usage_metadata.job_run_id AS job_run_id, MIN(u.usage_date) AS usage_date,
         SUM(u.usage_quantity) AS dbus, SUM(u.usage_quantity * p.pricing.default) AS list_cost
  FROM system.billing.usage u
  LEFT JOIN system.billing.list_prices p ON u.sku_name = p.sku_name AND u.cloud = p.cloud
    AND u.usage_start_time >= p.price_start_time AND (p.price_end_time IS NULL OR u.usage_start_time < p.price_end_time)
  WHERE u.usage_metadata.job_id = :job_id AND u.usage_date BETWEEN :since AND :until AND u.usage_unit = 'DBU'
  GROUP BY u.usage_metadata.job_run_id
), memory AS (
  SELECT t.job_run_id, MAX(n.mem_used_percent) AS peak_mem_percent
  FROM (SELECT DISTINCT job_run_id, compute_id
        FROM system.lakeflow.job_task_run_timeline LATERAL VIEW explode(compute_ids) AS compute_id
        WHERE job_id = :job_id AND period_start_time >= :since) t
  JOIN system.compute.node_timeline n ON n.cluster_id = t.compute_id AND n.start_time >= :since
  GROUP BY t.job_run_id
)
SELECT cost.job_run_id, cost.usage_date, cost.dbus, cost.list_cost, memory.peak_mem_percent
FROM cost LEFT JOIN memory ON memory.job_run_id = cost.job_run_id
ORDER BY cost.usage_date
"""

# TerminationCodeCode (Run.status.termination_details.code) → the RunResultState the console maps.
_CODE_TO_RESULT = {
    "SUCCESS": "SUCCESS",
    "SUCCESS_WITH_FAILURES": "SUCCESS_WITH_FAILURES",
    "CANCELED": "CANCELED",
    "USER_CANCELED": "CANCELED",
    "SKIPPED": "EXCLUDED",
    "DISABLED": "DISABLED",
    "MAX_CONCURRENT_RUNS_EXCEEDED": "MAXIMUM_CONCURRENT_RUNS_REACHED",
}
_LIFE_V2_TO_LEGACY = {"WAITING": "WAITING_FOR_RETRY"}
_TRIGGER = {"PERIODIC": "SCHEDULE", "CRON": "SCHEDULE", "ONE_TIME": "MANUAL", "RETRY": "RETRY",
            "RUN_JOB_TASK": "MANUAL", "FILE_ARRIVAL": "SCHEDULE", "TABLE": "SCHEDULE", "CONTINUOUS": "SCHEDULE"}


def _value(enum: Any) -> str | None:
    return getattr(enum, "value", None) if enum is not None else None


def api_states(obj: Any) -> tuple[str, str | None]:
    """``(life_cycle, result)`` of a run or task run, Databricks-shaped: what ``console_state`` maps.

    ``status`` (+ ``termination_details``) is preferred; the deprecated ``state`` fills what it lacks and
    refines a failure into UPSTREAM_FAILED/UPSTREAM_CANCELED/TIMEDOUT, which only it distinguishes.
    """
    legacy = getattr(obj, "state", None)
    legacy_life = _value(getattr(legacy, "life_cycle_state", None))
    legacy_result = _value(getattr(legacy, "result_state", None))
    status = getattr(obj, "status", None)
    life = _value(getattr(status, "state", None))
    if life is None:  # no status, or a value the SDK does not know: the deprecated state decides
        return legacy_life or "", legacy_result
    life = _LIFE_V2_TO_LEGACY.get(life, life)
    if life != "TERMINATED":
        return life, None
    details = getattr(status, "termination_details", None)
    code = _value(getattr(details, "code", None))
    kind = _value(getattr(details, "type", None))
    result = _CODE_TO_RESULT.get(code or "")
    if result is None and code is not None:
        result = "FAILED"  # every other known code is an error of some kind
    if result is None and kind is not None:
        result = "SUCCESS" if kind == "SUCCESS" else "FAILED"
    if result is None:
        result = legacy_result  # may be None too: then the state is unknown
    # SKIPPED covers both a task excluded by its run_if and one whose upstream failed: only the deprecated
    # state's result (UPSTREAM_FAILED) tells them apart, and the second must warn, not count as done.
    if result in ("FAILED", "CANCELED", "EXCLUDED") and legacy_result in ("UPSTREAM_FAILED", "UPSTREAM_CANCELED",
                                                                           "TIMEDOUT"):
        result = legacy_result
    return life, result


def _time(ms: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC) if ms else None


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _seconds(ms: int | None) -> float | None:
    return ms / 1000 if ms is not None and ms > 0 else None


def _flag(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


def _number(value: Any) -> float:
    return float(value) if value not in (None, "") else 0.0


def _maybe(value: Any) -> float | None:
    return float(value) if value not in (None, "") else None


def _timestamp(value: Any) -> dt.datetime:
    """A JSON_ARRAY timestamp ("2026-12-03T11:04:00.000Z" or with a space) as an aware UTC datetime."""
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00").replace(" ", "T"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _sql_value(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _sql_type(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return "TIMESTAMP"
    return "DATE" if isinstance(value, dt.date) else "STRING"


def idempotency_token(job_id: int, key: str) -> str:
    """A Jobs API idempotency token (at most 64 characters) for the console's action key."""
    return hashlib.sha256(f"{job_id}:{key}".encode()).hexdigest()


class BudgetClock:
    """The SDK's retry clock, bounded by the calling thread's deadline.

    The SDK sleeps between retries for as long as a Retry-After says (or 1-10 s); a page cannot. Inside
    ``within(seconds)`` a sleep that would end past the deadline raises ``EngineUnavailable`` at once.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        deadline = getattr(self._local, "deadline", None)
        if deadline is not None and time.monotonic() + seconds > deadline:
            raise EngineUnavailable(f"Databricks did not answer within {self._local.budget:g} s (retries included).")
        time.sleep(seconds)

    @contextmanager
    def within(self, seconds: float) -> Iterator[None]:
        self._local.deadline, self._local.budget = time.monotonic() + seconds, seconds
        try:
            yield
        finally:
            self._local.deadline = None


def describe(exc: BaseException) -> str:
    """An SDK or HTTP error in one line, without request details (headers may hold tokens)."""
    if isinstance(exc, ConsoleError):
        return exc.message
    cause = exc.__cause__ if isinstance(exc, TimeoutError) and exc.__cause__ else exc
    name = type(cause).__name__
    text = str(cause).splitlines()[0][:200] if str(cause) else ""
    if "<html" in text.lower():
        text = "an HTML error page (a proxy or gateway in front of the workspace)"
    if isinstance(exc, TimeoutError):
        return f"Databricks did not answer in time ({name}: {text})" if text else "Databricks did not answer in time"
    return f"{name}: {text}" if text else name


# How long a process's first read waits for its client to be built (import, credentials, host probe).
FIRST_CONNECT_SECONDS = 5.0


class DatabricksEngine(ActionRequestLog):
    """Reads runs of the job and carries out actions through the Jobs API."""

    kind = "databricks"

    def __init__(self, store: StateStore, spec: WorkflowSpec, settings: DatabricksSettings,
                 config: dict[str, Any] | None = None, connect_early: bool = False) -> None:
        """``config``: extra ``databricks.sdk.core.Config`` arguments (tests pass host and token).
        ``connect_early``: start building the read client in the background now (the UI server does), so
        that the first page does not wait for the host probe and the credentials."""
        self.store = store
        self.spec = spec
        self.settings = settings
        self.job_name = settings.job_name or spec.job_name
        self._config = dict(config or {})
        self._clients: dict[str, WorkspaceClient] = {}
        self._building: dict[str, cf.Future[WorkspaceClient]] = {}
        self._builder = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="databricks-connect")
        self._waited_first = False  # whether a read has waited FIRST_CONNECT_SECONDS for the client
        # a request still "running" after its action budget (and a minute) was left by a process that died
        self.stale_running = dt.timedelta(seconds=settings.action_budget_seconds + 60)
        self._clock = BudgetClock()
        self._lock = threading.Lock()
        self._job_id: int | None = settings.job_id or None
        # After a read fails, reads fail at once for this long: a page makes several reads, and each one waiting
        # out its own budget would keep a page of a down workspace from rendering within seconds.
        self.cooldown_seconds = 15.0
        self._down: tuple[float, str, bool] | None = None  # (monotonic time, message, while connecting)
        self.reads = 0  # console state-store reads (the request log)
        self.api_calls = 0  # Jobs API operations made for reads (each one or more HTTP requests)
        self.statements = 0  # SQL statements read for the cluster panel (system tables)
        self.statement_rows = 0  # rows those statements returned
        self._statements: dict[str, str] = {}  # a statement that outlived its read budget: its id, to poll next
        if connect_early:
            self._building["read"] = self._builder.submit(self._build, "read")

    # ---------------------------------------------------------------- clients
    @property
    def label(self) -> str:
        where = self._config.get("host") or self.settings.host or (
            f"profile {self.settings.profile}" if self.settings.profile else "DATABRICKS_HOST")
        return f"Databricks Jobs at {where}, job {self.job_name}"

    def _client(self, purpose: str, wait: float) -> WorkspaceClient:
        """One client for reads (short timeouts) and one for actions, built on first use, never at start-up.

        Building one probes the host (``/.well-known/databricks-config``) with the SDK's own retries, which
        no budget bounds: it is built in the background and waited for at most ``wait`` seconds; a build
        that finishes later is kept for the next call.
        """
        with self._lock:
            client = self._clients.get(purpose)
            if client is not None:
                return client
            building = self._building.get(purpose)
            if building is None or (building.done() and building.exception() is not None):
                building = self._builder.submit(self._build, purpose)
                self._building[purpose] = building
        if purpose == "read" and not self._waited_first:
            self._waited_first = True
            # A fresh process's first client: the SDK's import and host probe take a few seconds on a busy
            # machine. The first read waits for it up to FIRST_CONNECT_SECONDS rather than failing at half its
            # budget; later reads, and reads after a failure, keep the short budget.
            wait = max(wait, FIRST_CONNECT_SECONDS)
        try:
            client = building.result(timeout=wait)
        except cf.TimeoutError:
            raise EngineUnavailable(f"Databricks did not answer within {wait:g} s (connecting).") from None
        with self._lock:
            self._clients[purpose] = client
        return client

    def _build(self, purpose: str) -> WorkspaceClient:
        # on demand: databricks-sdk takes ~1.3 s to import, and the embedded stack never needs it
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.core import Config

        s = self.settings
        reads = purpose == "read"
        kwargs: dict[str, Any] = {
            "host": s.host or None, "profile": s.profile or None, "product": "outbound-ops-console",
            "product_version": "0.1.0",
            # a read's single request may take most of the budget, but not all of it (no retry would fit)
            "http_timeout_seconds": min(s.read_budget_seconds * 0.75, s.http_timeout_seconds) if reads
            else s.http_timeout_seconds,
            "retry_timeout_seconds": max(1, int(s.read_budget_seconds if reads else s.action_budget_seconds)),
            "clock": self._clock if reads else None,
            **self._config,
        }
        try:
            return WorkspaceClient(config=Config(**{k: v for k, v in kwargs.items() if v is not None}))
        except Exception as exc:  # no host, no credentials, a bad profile: say which
            raise EngineUnavailable(f"Cannot set up the Databricks client: {describe(exc)}",
                                    "Set [databricks] host/profile in console.toml and DATABRICKS_TOKEN (or a "
                                    "~/.databrickscfg profile); `python -m console doctor` checks it.") from None

    def _call(self, what: str, body: Callable[[WorkspaceClient], T], purpose: str = "read") -> T:
        """Run ``body`` with the client of ``purpose`` within its budget; errors become ``EngineUnavailable``."""
        budget = self.settings.read_budget_seconds if purpose == "read" else self.settings.action_budget_seconds
        started = time.monotonic()
        if purpose == "read":
            down = self._down
            if down is not None and started - down[0] < self.cooldown_seconds and not (
                    down[2] and purpose in self._clients):
                raise EngineUnavailable(f"{down[1]} (failed {started - down[0]:.0f} s ago; not retried yet)")
            self.api_calls += 1
        try:
            result = self._attempt(what, body, purpose, budget, started)
        except EngineUnavailable as exc:
            if purpose == "read":  # a failure while connecting holds only until the client is built
                self._down = (time.monotonic(), exc.message, purpose not in self._clients)
            raise
        if purpose == "read":
            self._down = None
        return result

    def _attempt(self, what: str, body: Callable[[WorkspaceClient], T], purpose: str, budget: float,
                 started: float) -> T:
        from databricks.sdk.errors import NotFound as ApiNotFound  # on demand, as in _build

        try:
            reads = purpose == "read"
            client = self._client(purpose, wait=budget / 2 if reads else budget)
            remaining = max(0.1, budget - (time.monotonic() - started))
            with self._clock.within(remaining) if reads else _nothing():
                return body(client)
        except EngineUnavailable as exc:
            last = exc.__context__  # the budget ran out while retrying: name the error it was retrying
            if last is not None and not exc.__suppress_context__ and not isinstance(last, ConsoleError):
                raise EngineUnavailable(f"Databricks {what}: {exc.message} Last error: {describe(last)}") from None
            raise
        except ConsoleError:
            raise
        except ApiNotFound as exc:
            raise NotFound(f"Databricks: {what}: {describe(exc)}") from None
        except Exception as exc:
            logger.warning("Databricks %s failed after %.1f s: %s", what, time.monotonic() - started, describe(exc))
            raise EngineUnavailable(f"Databricks {what} failed: {describe(exc)}") from None

    # ---------------------------------------------------------------- the job
    def job_id(self) -> int:
        """The job's id: from settings, or the one job with the spec's name (found once)."""
        if self._job_id is None:
            def find(w: WorkspaceClient) -> list[Any]:
                return list(itertools.islice(w.jobs.list(name=self.job_name, limit=5), 2))

            jobs = self._call(f"finding job '{self.job_name}'", find)
            if not jobs:
                raise NotFound(f"Databricks has no job named '{self.job_name}'.",
                               "Deploy it with `python -m console deploy-job`, or set [databricks] job_id.")
            if len(jobs) > 1:
                raise InvalidRequest(f"Databricks has more than one job named '{self.job_name}'.",
                                     "Set [databricks] job_id in console.toml to the one the console follows.")
            self._job_id = int(jobs[0].job_id)
        return self._job_id

    # ---------------------------------------------------------------- reads
    def _business_date(self, run: Any) -> dt.date:
        for param in getattr(run, "job_parameters", None) or []:
            if param.name == BUSINESS_DATE_PARAM and param.value:
                try:
                    return dt.date.fromisoformat(param.value)
                except ValueError:
                    break
        start = _time(run.start_time) or dt.datetime.now(dt.UTC)
        return start.astimezone(ET).date()

    def _raw_runs(self, start: dt.date, end: dt.date, expand: bool) -> list[Any]:
        """Runs that may belong to business dates ``start``..``end``: a bounded slice, never all history."""
        job_id = self.job_id()
        first = dt.datetime(start.year, start.month, start.day, tzinfo=ET)
        last = dt.datetime(end.year, end.month, end.day, tzinfo=ET) + dt.timedelta(days=RECENT_DAYS + 1)
        cap = ((end - start).days + RECENT_DAYS + 1) * MAX_RUNS_PER_DAY

        def window(w: WorkspaceClient, since: dt.datetime, until: dt.datetime, deadline: float | None) -> list[Any]:
            with self._clock.within(max(0.1, deadline - time.monotonic())) if deadline else _nothing():
                return list(itertools.islice(w.jobs.list_runs(
                    job_id=job_id, start_time_from=_ms(since), start_time_to=_ms(until), expand_tasks=expand,
                    limit=25), cap))

        def fetch(w: WorkspaceClient) -> list[Any]:
            # runs/list pages 25 runs at a time, one page after the other: 30 business days took two or three pages in
            # a row (2.8 s on a slow workspace, past the 2 s budget). Windows of WINDOW_DAYS, read side by side,
            # each usually one page: the same requests, the latency of one.
            windows = []
            since = first
            while since < last:
                windows.append((since, min(last, since + dt.timedelta(days=WINDOW_DAYS))))
                since += dt.timedelta(days=WINDOW_DAYS)
            deadline = getattr(self._clock._local, "deadline", None)
            if len(windows) == 1:
                return window(w, first, last, None)
            with cf.ThreadPoolExecutor(max_workers=len(windows), thread_name_prefix="databricks-list") as pool:
                parts = list(pool.map(lambda span: window(w, span[0], span[1], deadline), windows))
            seen: dict[int, Any] = {}
            for part in parts:  # a run starting on a window's edge comes back twice
                for run in part:
                    seen.setdefault(int(run.run_id), run)
            return sorted(seen.values(), key=lambda r: (-(r.start_time or 0), -int(r.run_id)))[:cap]

        found = self._call("listing runs", fetch)
        return [r for r in found if start <= self._business_date(r) <= end]

    def list_runs(self, start: dt.date, end: dt.date, with_tasks: bool = True) -> list[Run]:
        """Runs of business dates ``start``..``end``, newest first."""
        raw = self._raw_runs(start, end, expand=with_tasks)
        runs = [self._run(r, errors=False) for r in raw]
        return sorted(runs, key=lambda r: (r.business_date, r.start or dt.datetime.min.replace(tzinfo=dt.UTC),
                                           r.run_id), reverse=True)

    def get_run(self, run_id: int) -> Run:
        raw = self._call(f"reading run {run_id}", lambda w: w.jobs.get_run(run_id, include_history=True))
        return self._run(raw, errors=True)

    def run_for_date(self, day: dt.date) -> Run | None:
        """The latest run of the business date (with its repair history and task errors), or None."""
        raw = self._raw_runs(day, day, expand=True)
        if not raw:
            return None
        latest = max(raw, key=lambda r: (r.start_time or 0, r.run_id))
        if self._plain(latest):  # the listing says it all: one request per read (the status pages' 30 s)
            return self._run(latest, errors=False)
        return self.get_run(int(latest.run_id))

    @staticmethod
    def _plain(raw: Any) -> bool:
        """A run whose listing is the whole story: no failed or unknown task (no error to fetch), one attempt
        of each task (no retry or repair, so no repair history to read)."""
        tasks = raw.tasks or []
        if not tasks or len({t.task_key for t in tasks}) != len(tasks) or any(t.attempt_number for t in tasks):
            return False
        ok = {TaskState.SUCCEEDED, TaskState.RUNNING, TaskState.PENDING, TaskState.QUEUED, TaskState.SKIPPED}
        return all(console_state(*api_states(t)) in ok for t in tasks)

    def task_history(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """Final attempt of every task of the latest run per day (for medians, grids and ETAs)."""
        latest: dict[dt.date, Run] = {}
        for run in self.list_runs(start, end):
            latest.setdefault(run.business_date, run)
        return [{"business_date": run.business_date, "run_id": run.run_id, "task_key": task.task_key,
                 "state": task.state.value, "start": task.start, "end": task.end,
                 "duration_seconds": task.duration_seconds, "attempt": task.attempt}
                for run in latest.values() for task in run.tasks]

    def _run(self, raw: Any, errors: bool) -> Run:
        repair_of: dict[int, int] = {}
        repairs: list[dict[str, object]] = []
        for entry in getattr(raw, "repair_history", None) or []:
            if _value(entry.type) == "REPAIR":
                for task_run_id in entry.task_run_ids or []:
                    repair_of[task_run_id] = int(entry.id)
                repairs.append({"repair_id": int(entry.id), "requested_at": _time(entry.start_time),
                                "requested_by": "", "task_keys": json.dumps(sorted(
                                    {t.task_key for t in raw.tasks or [] if t.run_id in (entry.task_run_ids or [])})),
                                "reason": ""})
        attempts = []
        for task in sorted(raw.tasks or [], key=lambda t: (t.start_time or 0, t.attempt_number or 0, t.run_id or 0)):
            life, result = api_states(task)
            attempts.append(TaskRun(
                task_key=task.task_key, state=console_state(life, result), attempt=task.attempt_number or 0,
                life_cycle_state=life, result_state=result, start=_time(task.start_time), end=_time(task.end_time),
                setup_seconds=_seconds(task.setup_duration), execution_seconds=_seconds(task.execution_duration),
                error_message=(task.state.state_message or None) if task.state and result not in (
                    None, "SUCCESS") else None,
                repair_id=repair_of.get(task.run_id or -1), output=json.dumps({"task_run_id": task.run_id})))
        latest: dict[str, TaskRun] = {}
        task_ids: dict[str, int] = {}
        for attempt, task in zip(attempts, sorted(raw.tasks or [], key=lambda t: (
                t.start_time or 0, t.attempt_number or 0, t.run_id or 0)), strict=True):
            previous = latest.get(attempt.task_key)
            if previous is None or (attempt.repair_id or 0, attempt.attempt) >= (previous.repair_id or 0,
                                                                                  previous.attempt):
                latest[attempt.task_key] = attempt
                task_ids[attempt.task_key] = int(task.run_id or 0)
        if errors:
            for key, task in latest.items():
                if task.state == TaskState.FAILED:
                    self._add_error(task, task_ids[key])
        tasks = [latest.get(key) or TaskRun(task_key=key, state=TaskState.PENDING, life_cycle_state="PENDING")
                 for key in self.spec.keys]
        life, result = api_states(raw)
        clusters = sorted({t.cluster_instance.cluster_id for t in raw.tasks or []
                           if t.cluster_instance and t.cluster_instance.cluster_id})
        message = (raw.state.state_message if raw.state else "") or ""
        details = getattr(getattr(raw, "status", None), "termination_details", None)
        if details is not None and details.message:
            message = details.message
        run = Run(
            run_id=int(raw.run_id), job_name=self.job_name, business_date=self._business_date(raw),
            state=console_state(life, result), life_cycle_state=life, result_state=result,
            trigger=_TRIGGER.get(_value(raw.trigger) or "", _value(raw.trigger) or "MANUAL"),
            requested_by=raw.creator_user_name or "", start=_time(raw.start_time), end=_time(raw.end_time),
            state_message=message, source="databricks", tasks=tasks, attempts=attempts, repairs=repairs,
            run_page_url=raw.run_page_url, cluster_ids=clusters,
        )
        return run

    def _add_error(self, task: TaskRun, task_run_id: int) -> None:
        """The failed task's error and trace from its run output (best effort: the page still shows the state)."""
        try:
            output = self._call(f"reading the output of task run {task_run_id}",
                                lambda w: w.jobs.get_run_output(task_run_id))
        except ConsoleError as exc:
            logger.info("no output for task run %s: %s", task_run_id, exc)
            return
        if output.error:
            task.error_message = output.error[:2000]
        if output.error_trace:
            task.error_trace = output.error_trace[-8000:]

    # ---------------------------------------------------------------- cluster panel
    def cluster_events(self, run: Run, limit: int = 50) -> list[dict[str, Any]]:
        """Events of the run's job cluster(s), newest first: spot loss, resizing, driver problems."""
        rows: list[dict[str, Any]] = []
        for cluster_id in run.cluster_ids[:3]:
            def fetch(w: WorkspaceClient, cluster_id: str = cluster_id) -> list[Any]:
                return list(itertools.islice(w.clusters.events(cluster_id, limit=limit), limit))

            for event in self._call(f"reading events of cluster {cluster_id}", fetch):
                details = event.details
                reason = getattr(getattr(details, "reason", None), "code", None)
                cause = getattr(details, "cause", None)
                rows.append({
                    "time": _time(event.timestamp), "cluster_id": cluster_id, "type": _value(event.type) or "UNKNOWN",
                    "reason": _value(reason) or "", "cause": _value(cause) or "",
                    "current_workers": getattr(details, "current_num_workers", None),
                    "target_workers": getattr(details, "target_num_workers", None),
                })
        return sorted(rows, key=lambda r: r["time"] or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)

    # ---------------------------------------------------------------- cluster utilization (system tables)
    def cluster_usage(self, run: Run) -> RunUsage | None:
        """The run's node timeline (``system.compute.node_timeline``) and its DBUs and list cost
        (``system.billing.usage`` × ``system.billing.list_prices``): two statements on the SQL warehouse."""
        if not run.cluster_ids or run.start is None:
            return None
        since = run.start - dt.timedelta(minutes=5)
        until = (run.end or dt.datetime.now(dt.UTC)) + dt.timedelta(minutes=5)
        ids = run.cluster_ids[:3]
        params = {"since": since, "until": until, **{f"c{i}": c for i, c in enumerate(ids)}}
        sql = NODE_TIMELINE_SQL.format(clusters=", ".join(f":c{i}" for i in range(len(ids))))
        rows = self._statement(f"reading the node timeline of run {run.run_id}", sql, params)
        spot_from = self._first_spot_worker()
        order: dict[str, int] = {}
        minutes = []
        for r in rows:
            driver = _flag(r["driver"])
            if not driver:
                order.setdefault(r["instance_id"], len(order))
            spot = not driver and spot_from is not None and order[r["instance_id"]] >= spot_from
            minutes.append(NodeMinute(
                r["instance_id"], _timestamp(r["minute"]), driver, spot,
                _number(r["cpu_user_percent"]) + _number(r["cpu_system_percent"]), _number(r["cpu_wait_percent"]),
                _number(r["mem_used_percent"])))
        cost = self._statement(f"reading the usage of run {run.run_id}", RUN_USAGE_SQL,
                               {"job_run_id": str(run.run_id), "since": since.date()})
        dbus = _number(cost[0]["dbus"]) if cost and cost[0]["dbus"] is not None else None
        price = _number(cost[0]["list_cost"]) if cost and cost[0]["list_cost"] is not None else None
        if not minutes and dbus is None:
            return None
        return RunUsage(run.run_id, tuple(minutes), dbus, price, "system tables", read_at=dt.datetime.now(dt.UTC),
                        newest=max((m.minute for m in minutes), default=None),
                        currency=(cost[0].get("currency_code") or "USD") if cost else "USD")

    def cluster_costs(self, start: dt.date, end: dt.date) -> list[RunCost]:
        """DBUs, list cost and peak memory per run of the job, one grouped statement over the system tables."""
        rows = self._statement("reading the job's DBUs per run", RUN_COSTS_SQL,
                               {"job_id": str(self.job_id()), "since": start - dt.timedelta(days=1),
                                "until": end + dt.timedelta(days=RECENT_DAYS)})
        out = []
        for r in rows:
            day = dt.date.fromisoformat(str(r["usage_date"])[:10])
            out.append(RunCost(int(r["job_run_id"]), day, _maybe(r["dbus"]), _maybe(r["list_cost"]),
                               _maybe(r["peak_mem_percent"])))
        return out

    def _first_spot_worker(self) -> int | None:
        """From the spec's ``aws_attributes``: the workers past ``first_on_demand - 1`` are spot (the driver is
        the first on-demand node), or None when the cluster asks for no spot instances."""
        clusters = self.spec.raw.get("job_clusters") or []
        aws = ((clusters[0].get("new_cluster") or {}).get("aws_attributes") or {}) if clusters else {}
        if not str(aws.get("availability", "")).startswith("SPOT"):
            return None
        return max(0, int(aws.get("first_on_demand", 1)) - 1)

    def _statement(self, what: str, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One statement on the configured SQL warehouse within the read budget, as rows of column → value.

        Submitted with ``wait_timeout`` 0 s and polled until the budget ends. One that outlives it keeps running
        on the warehouse (``on_wait_timeout`` CONTINUE) and the read fails (the page shows the last figures);
        the next read of the same statement polls it instead of submitting it again.
        """
        warehouse = self.settings.sql_warehouse_id
        if not warehouse:
            raise InvalidRequest("No SQL warehouse is configured for the cluster's utilization.",
                                 "Set [databricks] sql_warehouse_id in console.toml to a SQL warehouse the console's "
                                 "principal may use (CAN USE); the utilization is read from the system tables.")
        from databricks.sdk.service.sql import (  # on demand, as in _build
            Disposition,
            ExecuteStatementRequestOnWaitTimeout,
            Format,
            StatementParameterListItem,
            StatementState,
        )

        key = sql + json.dumps(params, default=str, sort_keys=True)
        typed = [StatementParameterListItem(name=k, value=_sql_value(v), type=_sql_type(v)) for k, v in params.items()]

        def run(w: WorkspaceClient) -> Any:
            pending = self._statements.get(key)
            if pending is not None:
                response = w.statement_execution.get_statement(pending)
            else:
                response = w.statement_execution.execute_statement(
                    statement=sql, warehouse_id=warehouse, parameters=typed, wait_timeout="0s",
                    on_wait_timeout=ExecuteStatementRequestOnWaitTimeout.CONTINUE, disposition=Disposition.INLINE,
                    format=Format.JSON_ARRAY, row_limit=STATEMENT_ROW_LIMIT)
            while response.status and response.status.state in (StatementState.PENDING, StatementState.RUNNING):
                statement_id = str(response.statement_id)
                self._statements[key] = statement_id
                self._clock.sleep(STATEMENT_POLL_SECONDS)  # raises EngineUnavailable past the budget
                response = w.statement_execution.get_statement(statement_id)
            self._statements.pop(key, None)
            return response

        self.statements += 1
        response = self._call(what, run)
        state = _value(response.status.state if response.status else None)
        if state != "SUCCEEDED":
            error = response.status.error if response.status else None
            message = (getattr(error, "message", "") or "")[:300]
            code = _value(getattr(error, "error_code", None)) or ""
            if "TABLE_OR_VIEW_NOT_FOUND" in message or "SCHEMA_NOT_FOUND" in message or ("system." in message \
                    and "not found" in message.lower()):
                raise InvalidRequest(f"Databricks {what}: the system tables are not enabled ({message}).",
                                     "An account admin enables the system schemas compute, billing and lakeflow "
                                     "(Unity Catalog: `databricks system-schemas enable`), and grants the console's "
                                     "principal SELECT on them.")
            raise EngineUnavailable(f"Databricks {what}: the statement ended {state or 'unknown'} "
                                    f"({code}: {message}).".replace("(: )", "(no error given)"))
        columns = [c.name for c in (response.manifest.schema.columns or [])] if response.manifest and \
            response.manifest.schema else []
        data = (response.result.data_array if response.result else None) or []
        self.statement_rows += len(data)
        return [dict(zip(columns, row, strict=False)) for row in data]

    # ---------------------------------------------------------------- actions
    def submit(self, kind: str, requested_by: str, idempotency_key: str, business_date: dt.date | None = None,
               run_id: int | None = None, task_keys: list[str] | None = None,
               not_after: dt.datetime | None = None) -> ActionResult:
        """Record the request, then call the Jobs API at once; the result says what Databricks did."""
        if kind not in ("trigger", "repair", "cancel"):
            raise InvalidRequest(f"Unknown action '{kind}'.")
        keys = [self.spec.task(k).key for k in task_keys or []]
        request_id, duplicate = self._claim_request(kind, requested_by, idempotency_key, business_date, run_id, keys,
                                                    status="running")
        if duplicate is not None:
            return duplicate
        assert request_id is not None
        try:
            if kind == "trigger":
                if business_date is None:
                    raise InvalidRequest("Run now needs a business date.")
                message, run_id = self._run_now(business_date, idempotency_key)
            elif kind == "repair":
                if run_id is None:
                    raise InvalidRequest("A rerun needs the run to repair.")
                message = self._repair(run_id, keys)
            else:
                if run_id is None:
                    raise InvalidRequest("Cancel needs the run to stop.")
                self._call(f"canceling run {run_id}", lambda w: w.jobs.cancel_run(run_id), purpose="action")
                message = f"Databricks is canceling run {run_id}: running tasks stop, nothing new starts."
        except ConsoleError as exc:
            self._finish_request(request_id, "failed", str(exc), run_id)
            return ActionResult(False, f"Databricks refused or did not answer: {exc.message}", request_id, run_id)
        except BaseException as exc:  # not ours (a bug, an interrupt): never leave the request "running"
            self._finish_request(request_id, "failed", f"{type(exc).__name__}: {exc}", run_id)
            raise
        self._finish_request(request_id, "done", message, run_id)
        return ActionResult(True, message, request_id, run_id)

    def _run_now(self, day: dt.date, key: str) -> tuple[str, int]:
        job_id = self.job_id()
        token = idempotency_token(job_id, key)
        response: Any = self._call(f"starting job {job_id}", lambda w: w.jobs.run_now(
            job_id, idempotency_token=token, job_parameters={BUSINESS_DATE_PARAM: day.isoformat()}).response,
            purpose="action")
        run_id = int(response.run_id)
        return f"Databricks started run {run_id} for {day}.", run_id

    def _repair(self, run_id: int, keys: list[str]) -> str:
        before = self._call(f"reading run {run_id}", lambda w: w.jobs.get_run(run_id, include_history=True),
                            purpose="action")
        repair_ids = [int(e.id or 0) for e in before.repair_history or [] if _value(e.type) == "REPAIR"]
        latest = repair_ids[-1] if repair_ids else None
        day = self._business_date(before).isoformat()
        what = f"{len(keys)} chosen task(s)" if keys else "the failed tasks"
        try:
            response: Any = self._call(f"repairing run {run_id}", lambda w: w.jobs.repair_run(
                run_id, rerun_tasks=keys or None, rerun_all_failed_tasks=None if keys else True,
                rerun_dependent_tasks=True, latest_repair_id=latest,
                # a scheduled run carries business_date "" (the tasks take the day they run): a repair the next
                # morning must rebuild the run's own date, so it says which
                job_parameters={BUSINESS_DATE_PARAM: day}).response, purpose="action")
            repair_id = int(response.repair_id)
        except EngineUnavailable:
            # A POST retried after a timeout fails (latest_repair_id moved) although the first one repaired:
            # the repair history says what happened.
            after = self._call(f"reading run {run_id}", lambda w: w.jobs.get_run(run_id, include_history=True),
                               purpose="action")
            new = [int(e.id or 0) for e in after.repair_history or [] if _value(e.type) == "REPAIR"
                   and int(e.id or 0) not in repair_ids]
            if not new:
                raise
            repair_id = new[-1]
            logger.info("repair of run %s was made although its call failed (repair %s)", run_id, repair_id)
        return f"Databricks is repairing run {run_id} (repair {repair_id}): {what} and their dependents rerun."

    def process_requests(self, background: Callable[[Callable[[], None]], object] | None = None) -> int:
        """An action is carried out by the API when it is submitted; the worker's poll only ends the requests a
        dead process left running (``expire_requests``)."""
        self.expire_requests()
        return 0

    def recover_orphans(self, today: dt.date | None = None) -> list[int]:
        return []  # Databricks runs its own runs

    # ---------------------------------------------------------------- CLI / worker
    def trigger(self, business_date: dt.date, requested_by: str, trigger: str = "SCHEDULE", rerun: bool = False,
                idempotency_key: str | None = None) -> Run:
        """Start the job for a business date (one run per date unless ``rerun``), and return the run."""
        if not rerun:
            existing = self.run_for_date(business_date)
            if existing is not None:
                return existing
        key = idempotency_key or f"{self.job_name}:{business_date}" + (f":rerun:{time.time_ns()}" if rerun else "")
        _, run_id = self._run_now(business_date, key)
        return self.get_run(run_id)

    def execute(self, run_id: int, wait_if_other: bool = True, poll: float = 15.0) -> Run:
        """Databricks runs it; wait for the run to end (the CLI's run-workflow)."""
        run = self.get_run(run_id)
        while wait_if_other and not run.state.is_terminal and run.state != TaskState.UNKNOWN:
            time.sleep(poll)
            run = self.get_run(run_id)
        return run

    def check(self) -> str:
        """For ``doctor``: the job can be found and read (connecting may take longer than a page may wait)."""
        with contextlib.suppress(ConsoleError):
            self._client("read", wait=CONNECT_WAIT)
        job_id = self.job_id()
        job = self._call(f"reading job {job_id}", lambda w: w.jobs.get(job_id))
        tasks = len(job.settings.tasks or []) if job.settings else 0
        return f"job {job_id} '{self.job_name}' found ({tasks} tasks)"

    def workspace(self) -> WorkspaceClient:
        """The action client, for deploy-job."""
        return self._client("action", wait=self.settings.action_budget_seconds)


@contextmanager
def _nothing() -> Iterator[None]:
    yield
