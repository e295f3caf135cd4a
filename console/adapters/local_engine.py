"""The local workflow engine: runs the job spec's DAG in the worker, records runs shaped like Databricks.

Reads (runs, tasks, history) work from any process. Actions from the UI are written as request rows
(``submit``) that the worker claims and executes (``process_requests``); the CLI may execute directly.
A run is recorded in ``runs``; every task attempt is a row of ``task_runs``; repairs add rows with their
``repair_id`` inside the same run.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import importlib
import json
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from console.adapters.action_log import ActionRequestLog
from console.adapters.warehouse import Warehouse
from console.errors import InvalidRequest, NotFound
from console.model import RERUNNABLE, ActionResult, Run, TaskRun, TaskState, console_state
from console.store import StateStore, action_requests, cluster_node_minutes, repairs, runs, task_runs
from console.utilization import DEMO_DBU_PRICE, NodeMinute, RunCost, RunUsage
from console.workflow import WorkflowSpec

logger = logging.getLogger(__name__)

FAILED_RESULTS = {"FAILED", "TIMEDOUT", "UPSTREAM_FAILED", "INTERNAL_ERROR"}
CANCELED_RESULTS = {"CANCELED", "UPSTREAM_CANCELED"}
ContextFactory = Callable[[Any, dt.date, str, int], Any]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _TimedOut(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"timed out after {limit} s")
        self.limit = limit


def executor_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(executor: str | None) -> bool:
    """Whether ``executor`` (``host:pid``) is another live process on this machine; another machine's cannot
    be asked, and this process's own runs at start-up are left from before."""
    host, _, pid = (executor or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _task_run(row: Any) -> TaskRun:
    return TaskRun(
        task_key=row.task_key,
        state=console_state(row.life_cycle_state, row.result_state),
        attempt=row.attempt,
        life_cycle_state=row.life_cycle_state,
        result_state=row.result_state,
        start=row.start_time,
        end=row.end_time,
        setup_seconds=row.setup_seconds,
        execution_seconds=row.execution_seconds,
        error_message=row.error_message,
        error_trace=row.error_trace,
        repair_id=row.repair_id,
        output=row.output,
    )


class LocalEngine(ActionRequestLog):
    """Executes and records workflow runs of one job spec."""

    kind = "local"
    label = "local engine (runs the jobs/ tasks in the worker process)"

    def __init__(self, store: StateStore, spec: WorkflowSpec, warehouse: Warehouse | None = None,
                 context_factory: ContextFactory | None = None, max_parallel: int = 3,
                 retry_interval_scale: float = 0.01) -> None:
        self.store = store
        self.spec = spec
        self.warehouse = warehouse
        self.context_factory = context_factory
        self.max_parallel = max_parallel
        # Retries wait min_retry_interval_millis × scale: the spec's 1-5 min waits are for Databricks clusters.
        self.retry_interval_scale = retry_interval_scale
        # Reads made of the state store on behalf of pages and the CLI (the bench checks that caching keeps
        # this independent of the number of people watching). One per connection, like one API call.
        self.reads = 0

    # ---------------------------------------------------------------- reads
    def list_runs(self, start: dt.date, end: dt.date, with_tasks: bool = True) -> list[Run]:
        """Runs of business dates ``start``..``end``, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(runs).where(runs.c.business_date.between(start, end), runs.c.job_name == self.spec.job_name)
                .order_by(runs.c.business_date.desc(), runs.c.run_id.desc())
            ).all()
            attempts: dict[int, list[Any]] = {}
            if with_tasks and rows:
                ids = [r.run_id for r in rows]
                for t in conn.execute(sa.select(task_runs).where(task_runs.c.run_id.in_(ids))
                                      .order_by(task_runs.c.id)):
                    attempts.setdefault(t.run_id, []).append(t)
        return [self._run(r, attempts.get(r.run_id, []), []) for r in rows]

    def get_run(self, run_id: int) -> Run:
        with self._read() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).first()
            if row is None:
                raise NotFound(f"There is no run {run_id}.")
            attempts = conn.execute(sa.select(task_runs).where(task_runs.c.run_id == run_id)
                                    .order_by(task_runs.c.id)).all()
            reps = conn.execute(sa.select(repairs).where(repairs.c.run_id == run_id)
                                .order_by(repairs.c.repair_id)).all()
        return self._run(row, attempts, [dict(r._mapping) for r in reps])

    def run_for_date(self, day: dt.date) -> Run | None:
        """The latest run of the business date, or None."""
        with self._read() as conn:
            run_id = conn.execute(
                sa.select(runs.c.run_id).where(runs.c.business_date == day, runs.c.job_name == self.spec.job_name)
                .order_by(runs.c.run_id.desc()).limit(1)
            ).scalar()
        return self.get_run(run_id) if run_id is not None else None

    def cluster_events(self, run: Run, limit: int = 50) -> list[dict[str, Any]]:
        """Tasks run in the worker process here: there is no job cluster and so no cluster event."""
        return []

    def cluster_usage(self, run: Run) -> RunUsage | None:
        """The run's node timeline as the demo recorded it (None: no cluster was recorded, e.g. a live local run)."""
        with self._read() as conn:
            rows = conn.execute(sa.select(cluster_node_minutes).where(cluster_node_minutes.c.run_id == run.run_id)
                                .order_by(cluster_node_minutes.c.minute, cluster_node_minutes.c.node)).all()
        if not rows:
            return None
        minutes = tuple(NodeMinute(r.node, r.minute, bool(r.driver), bool(r.spot),
                                   r.cpu_user_percent + r.cpu_system_percent, r.cpu_wait_percent, r.mem_used_percent,
                                   r.dbus) for r in rows)
        dbus = sum(m.dbus for m in minutes)
        return RunUsage(run.run_id, minutes, dbus, dbus * DEMO_DBU_PRICE, "demo", read_at=_now(),
                        newest=max(m.minute for m in minutes))

    def cluster_costs(self, start: dt.date, end: dt.date) -> list[RunCost]:
        """DBUs, cost and peak memory of every recorded run of ``start``..``end`` (one grouped read)."""
        c = cluster_node_minutes.c
        with self._read() as conn:
            rows = conn.execute(
                sa.select(runs.c.run_id, runs.c.business_date, sa.func.sum(c.dbus).label("dbus"),
                          sa.func.max(c.mem_used_percent).label("peak"))
                .join(cluster_node_minutes, c.run_id == runs.c.run_id)
                .where(runs.c.business_date.between(start, end), runs.c.job_name == self.spec.job_name)
                .group_by(runs.c.run_id, runs.c.business_date)).all()
        return [RunCost(int(r.run_id), r.business_date, float(r.dbus), float(r.dbus) * DEMO_DBU_PRICE, float(r.peak))
                for r in rows]

    def task_history(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """Final attempt of every task of the latest run per day (for medians, grids and ETAs)."""
        out = []
        for run in self.list_runs(start, end):
            for task in run.tasks:
                out.append({"business_date": run.business_date, "run_id": run.run_id, "task_key": task.task_key,
                            "state": task.state.value, "start": task.start, "end": task.end,
                            "duration_seconds": task.duration_seconds, "attempt": task.attempt})
        return out

    def _run(self, row: Any, attempt_rows: list[Any], repair_rows: list[dict[str, Any]]) -> Run:
        attempts = [_task_run(a) for a in attempt_rows]
        latest: dict[str, TaskRun] = {}
        for attempt in attempts:
            latest[attempt.task_key] = attempt
        tasks = [latest.get(key) or TaskRun(task_key=key, state=TaskState.PENDING, life_cycle_state="PENDING")
                 for key in self.spec.keys]
        return Run(
            run_id=row.run_id, job_name=row.job_name, business_date=row.business_date,
            state=console_state(row.life_cycle_state, row.result_state), life_cycle_state=row.life_cycle_state,
            result_state=row.result_state, trigger=row.trigger, requested_by=row.requested_by,
            start=row.start_time, end=row.end_time, state_message=row.state_message or "", source=row.source,
            tasks=tasks, attempts=attempts, repairs=repair_rows,
        )

    # ---------------------------------------------------------------- requests (what the UI calls)
    def submit(self, kind: str, requested_by: str, idempotency_key: str, business_date: dt.date | None = None,
               run_id: int | None = None, task_keys: list[str] | None = None,
               not_after: dt.datetime | None = None) -> ActionResult:
        """Queue an action for the worker. The same key twice (a double click) queues it once."""
        if kind not in ("trigger", "repair", "cancel"):
            raise InvalidRequest(f"Unknown action '{kind}'.")
        keys = [self.spec.task(k).key for k in task_keys or []]
        request_id, duplicate = self._claim_request(kind, requested_by, idempotency_key, business_date, run_id, keys,
                                                    not_after=not_after)
        if duplicate is not None:
            return duplicate
        return ActionResult(True, f"Requested: the worker will {kind} within seconds (request {request_id}).",
                            request_id, run_id)

    def process_requests(self, background: Callable[[Callable[[], None]], object] | None = None) -> int:
        """Claim pending requests and carry them out; long work goes to ``background`` if given."""
        handled = 0
        self.expire_requests()  # a request older than its TTL is refused (audited), never carried out late
        while True:
            with self.store.begin() as conn:
                row = conn.execute(sa.select(action_requests).where(action_requests.c.status == "pending")
                                   .order_by(action_requests.c.id).limit(1)).first()
                if row is None:
                    return handled
                claimed = conn.execute(action_requests.update()
                                       .where(action_requests.c.id == row.id, action_requests.c.status == "pending")
                                       .values(status="running")).rowcount
            if not claimed:
                continue
            handled += 1
            job = self._request_job(row)
            if background is None or row.kind == "cancel":
                job()
            else:
                background(job)

    def _request_job(self, row: Any) -> Callable[[], None]:
        def finish(status: str, message: str, run_id: int | None = None) -> None:
            self._finish_request(row.id, status, message, run_id)

        def job() -> None:
            try:
                if row.kind == "trigger":
                    # The date's one run, under the schedule's key: "Run now" and the 06:00 trigger on the same
                    # date made two runs writing the same lists (keys request:N and {job}:{date}).
                    run = self.trigger(row.business_date, row.requested_by, trigger="MANUAL")
                    if run.requested_by != row.requested_by or run.trigger != "MANUAL":
                        finish("running", f"Run {run.run_id} of {row.business_date} already exists "
                                          f"({run.trigger.lower()}, by {run.requested_by}): following it.", run.run_id)
                    else:
                        finish("running", f"Run {run.run_id} started.", run.run_id)
                    run = self.execute(run.run_id)
                    finish("done", f"Run {run.run_id} {run.state.label}.", run.run_id)
                elif row.kind == "repair":
                    keys = json.loads(row.task_keys) or None
                    rerun = self.repair(row.run_id, keys, row.requested_by)
                    finish("done", f"Repair of run {row.run_id}: reran {len(rerun)} task(s); run "
                                   f"{self.get_run(row.run_id).state.label}.", row.run_id)
                else:
                    message = self.cancel(row.run_id, row.requested_by)
                    finish("done", message, row.run_id)
            except Exception as exc:  # a request must never kill the worker; say what went wrong
                logger.exception("action request %s (%s) failed", row.id, row.kind)
                finish("failed", str(exc))

        return job

    # ---------------------------------------------------------------- execution (worker / CLI)
    def trigger(self, business_date: dt.date, requested_by: str, trigger: str = "SCHEDULE", rerun: bool = False,
                idempotency_key: str | None = None) -> Run:
        """Create the run of a business date; without ``rerun`` a second trigger returns the existing run."""
        key = idempotency_key if rerun and idempotency_key else f"{self.spec.job_name}:{business_date}"
        if rerun and not idempotency_key:
            key = f"{self.spec.job_name}:{business_date}:rerun:{time.time_ns()}"
        with self.store.begin() as conn:
            existing = conn.execute(sa.select(runs.c.run_id).where(runs.c.idempotency_key == key)).scalar()
            if existing is None:
                try:
                    with conn.begin_nested():
                        existing = conn.execute(runs.insert().values(
                            job_name=self.spec.job_name, business_date=business_date, trigger=trigger,
                            requested_by=requested_by, idempotency_key=key, life_cycle_state="PENDING",
                            state_message="Waiting for the worker.", created_at=_now(),
                        )).inserted_primary_key[0]
                except sa.exc.IntegrityError:  # another process created it a moment ago
                    existing = conn.execute(sa.select(runs.c.run_id).where(runs.c.idempotency_key == key)).scalar()
        return self.get_run(int(existing))

    def execute(self, run_id: int, wait_if_other: bool = True, poll: float = 0.5) -> Run:
        """Run a PENDING run to its end. If another process owns it, wait for it to finish."""
        with self.store.begin() as conn:
            claimed = conn.execute(runs.update().where(runs.c.run_id == run_id, runs.c.life_cycle_state == "PENDING")
                                   .values(life_cycle_state="RUNNING", start_time=_now(), executor=executor_id(),
                                           state_message="")).rowcount
        if not claimed:
            run = self.get_run(run_id)
            while wait_if_other and not run.state.is_terminal and run.life_cycle_state in ("RUNNING", "TERMINATING",
                                                                                             "PENDING"):
                time.sleep(poll)
                run = self.get_run(run_id)
            return run
        run = self.get_run(run_id)
        self._execute_tasks(run, set(self.spec.keys), repair_id=None)
        return self._finish_run(run_id)

    def repair(self, run_id: int, task_keys: list[str] | None, requested_by: str, reason: str = "") -> list[str]:
        """Rerun failed tasks (or ``task_keys``) and their dependents inside the same run."""
        run = self.get_run(run_id)
        if not run.state.is_terminal:
            raise InvalidRequest(f"Run {run_id} is still {run.state.label}; repair it once it has finished.",
                                 "Wait for the run to end, or cancel it first.")
        if task_keys:
            chosen = {self.spec.task(k).key for k in task_keys}
        else:
            chosen = {t.task_key for t in run.tasks if t.state in RERUNNABLE}
            if not chosen:
                raise InvalidRequest(f"Run {run_id} has no failed task to repair.",
                                     "Pick the task to rerun explicitly.")
        rerun = self.spec.descendants(chosen)
        with self.store.begin() as conn:
            claimed = conn.execute(runs.update().where(runs.c.run_id == run_id,
                                                       runs.c.life_cycle_state.in_(("TERMINATED", "INTERNAL_ERROR")))
                                   .values(life_cycle_state="RUNNING", result_state=None, end_time=None,
                                           executor=executor_id(), state_message=f"Repairing {len(rerun)} task(s)"))
            if not claimed.rowcount:
                raise InvalidRequest(f"Run {run_id} is already being repaired or run.")
            repair_id = conn.execute(repairs.insert().values(
                run_id=run_id, requested_by=requested_by, requested_at=_now(),
                task_keys=json.dumps([k for k in self.spec.keys if k in rerun]), reason=reason)).inserted_primary_key[0]
        self._execute_tasks(self.get_run(run_id), rerun, repair_id=repair_id)
        self._finish_run(run_id)
        return [k for k in self.spec.keys if k in rerun]

    def cancel(self, run_id: int, requested_by: str) -> str:
        """Ask a running run to stop: running attempts finish, nothing new starts."""
        with self.store.begin() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).first()
            if row is None:
                raise NotFound(f"There is no run {run_id}.")
            if row.life_cycle_state == "PENDING":
                conn.execute(runs.update().where(runs.c.run_id == run_id).values(
                    life_cycle_state="TERMINATED", result_state="CANCELED", end_time=_now(),
                    state_message=f"Canceled by {requested_by} before it started."))
                return f"Run {run_id} canceled before it started."
            if row.life_cycle_state != "RUNNING":
                return f"Run {run_id} is not running ({(row.result_state or row.life_cycle_state).lower()}); " \
                       "nothing to cancel."
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(
                life_cycle_state="TERMINATING", state_message=f"Cancel requested by {requested_by}."))
        return f"Run {run_id} is stopping: running tasks finish their attempt, nothing new starts."

    def recover_orphans(self, today: dt.date | None = None) -> list[int]:
        """Runs left RUNNING by a killed worker: mark them and their running tasks failed. A run whose executor
        is a live process on this machine (``run-workflow`` from the CLI) is left alone; a run of a past date
        still PENDING (triggered, never started) is marked failed; today's is left for the catch-up."""
        now = _now()
        message = "The worker stopped while this was running. Repair the run to rerun the unfinished tasks."
        never = "Triggered but never started: the worker stopped before it ran. Run the date again."
        with self.store.begin() as conn:
            ids = [r.run_id for r in conn.execute(sa.select(runs.c.run_id, runs.c.executor).where(
                runs.c.life_cycle_state.in_(("RUNNING", "TERMINATING")))) if not _alive(r.executor)]
            stuck = [r.run_id for r in conn.execute(sa.select(runs.c.run_id).where(
                runs.c.life_cycle_state == "PENDING", runs.c.business_date < (today or dt.date.max)))]
            for run_id in stuck:
                conn.execute(task_runs.update().where(task_runs.c.run_id == run_id,
                                                      task_runs.c.life_cycle_state == "PENDING")
                             .values(life_cycle_state="INTERNAL_ERROR", result_state="FAILED", end_time=now,
                                     error_message=never))
                conn.execute(runs.update().where(runs.c.run_id == run_id, runs.c.life_cycle_state == "PENDING")
                             .values(life_cycle_state="INTERNAL_ERROR", result_state="FAILED", end_time=now,
                                     state_message=never))
            for run_id in ids:
                conn.execute(task_runs.update().where(task_runs.c.run_id == run_id,
                                                      task_runs.c.life_cycle_state.in_(("RUNNING", "PENDING")))
                             .values(life_cycle_state="INTERNAL_ERROR", result_state="FAILED", end_time=now,
                                     error_message=message))
                conn.execute(runs.update().where(runs.c.run_id == run_id).values(
                    life_cycle_state="INTERNAL_ERROR", result_state="FAILED", end_time=now, state_message=message))
            conn.execute(action_requests.update().where(action_requests.c.status == "running")
                         .values(status="failed", message=message, finished_at=now))
        for run_id in ids:
            logger.warning("run %s was left running by a stopped worker; marked failed", run_id)
        return ids

    # ---------------------------------------------------------------- internals
    def _cancel_requested(self, run_id: int) -> bool:
        with self.store.connect() as conn:
            return conn.execute(sa.select(runs.c.life_cycle_state).where(runs.c.run_id == run_id)).scalar() \
                == "TERMINATING"

    def _execute_tasks(self, run: Run, to_run: set[str], repair_id: int | None) -> None:
        results: dict[str, str] = {t.task_key: t.result_state or "" for t in run.tasks if t.task_key not in to_run}
        next_attempt = {t.task_key: (t.attempt + 1 if t.start else 0) for t in run.tasks}
        pending = [k for k in self.spec.topological_order() if k in to_run]
        running: dict[cf.Future[str], str] = {}
        with cf.ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix="task") as pool:
            while pending or running:
                canceled = self._cancel_requested(run.run_id)
                for key in list(pending):
                    deps = self.spec.task(key).depends_on
                    if any(d in pending or d in running.values() for d in deps):
                        continue
                    pending.remove(key)
                    verdict = "CANCELED" if canceled else self._run_if(key, [results.get(d, "") for d in deps])
                    if verdict == "RUN":
                        running[pool.submit(self._attempts, run, key, next_attempt[key], repair_id)] = key
                    else:
                        results[key] = verdict
                        self._record_skip(run.run_id, key, next_attempt[key], repair_id, verdict)
                if not running:
                    continue
                done, _ = cf.wait(list(running), timeout=1.0, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    key = running.pop(future)
                    results[key] = future.result()

    def _run_if(self, key: str, upstream: list[str]) -> str:
        """``RUN`` or the result to record instead, by the task's ``run_if`` and its upstream results."""
        if not upstream:
            return "RUN"
        ok = [r in ("SUCCESS", "SUCCESS_WITH_FAILURES") for r in upstream]
        failed = [r in FAILED_RESULTS for r in upstream]
        canceled = [r in CANCELED_RESULTS for r in upstream]
        rule = self.spec.task(key).run_if
        run = {
            "ALL_SUCCESS": all(ok),
            "ALL_DONE": True,
            "NONE_FAILED": not any(failed) and not any(canceled),
            "AT_LEAST_ONE_SUCCESS": any(ok),
            "ALL_FAILED": all(failed),
            "AT_LEAST_ONE_FAILED": any(failed),
        }[rule]
        if run:
            return "RUN"
        if any(canceled) and not any(failed):
            return "UPSTREAM_CANCELED"
        return "UPSTREAM_FAILED" if any(failed) else "EXCLUDED"

    def _record_skip(self, run_id: int, key: str, attempt: int, repair_id: int | None, result: str) -> None:
        now = _now()
        message = {"UPSTREAM_FAILED": "Not run: an upstream task failed.",
                   "UPSTREAM_CANCELED": "Not run: the run was canceled.",
                   "CANCELED": "Not run: the run was canceled.",
                   "EXCLUDED": "Not run: its run_if condition was not met."}[result]
        with self.store.begin() as conn:
            conn.execute(task_runs.insert().values(
                run_id=run_id, task_key=key, attempt=attempt, repair_id=repair_id, life_cycle_state="TERMINATED",
                result_state=result, start_time=None, end_time=now, error_message=message))

    def _attempts(self, run: Run, key: str, first_attempt: int, repair_id: int | None) -> str:
        """The attempts of one task: ``max_retries`` retries after a failure (-1: until it succeeds or the run
        is canceled; it never ran at all before), none after a timeout (as on Databricks without
        ``retry_on_timeout``)."""
        spec = self.spec.task(key)
        attempt, retries = first_attempt, 0
        while True:
            result = self._attempt(run, key, attempt, repair_id)
            if result in ("SUCCESS", "TIMEDOUT") or self._cancel_requested(run.run_id):
                return result
            if 0 <= spec.max_retries <= retries:
                return result
            retries += 1
            time.sleep(spec.min_retry_interval_millis / 1000 * self.retry_interval_scale)
            attempt += 1

    def _attempt(self, run: Run, key: str, attempt: int, repair_id: int | None) -> str:
        started = _now()
        with self.store.begin() as conn:
            row_id = conn.execute(task_runs.insert().values(
                run_id=run.run_id, task_key=key, attempt=attempt, repair_id=repair_id, life_cycle_state="RUNNING",
                start_time=started)).inserted_primary_key[0]
        t0 = time.perf_counter()
        setup = 0.0
        values: dict[str, Any]
        try:
            module = importlib.import_module(self.spec.task(key).module)
            if self.warehouse is None or self.context_factory is None:
                raise RuntimeError("this engine has no warehouse; it can only read runs")
            # the task's statements are the pipeline's (Databricks runs them in production), not the console's
            with self.warehouse.meter.attributed("pipeline"), self.warehouse.session() as session:
                ctx = self.context_factory(session, run.business_date, key, run.run_id)
                setup = time.perf_counter() - t0
                output = self._within(self.spec.task(key).timeout_seconds, lambda: module.run(ctx), session)
            values = {"result_state": "SUCCESS", "output": json.dumps(output, default=str) if output else None}
        except _TimedOut as exc:
            logger.warning("task %s of run %s attempt %s timed out after %s s", key, run.run_id, attempt, exc.limit)
            values = {"result_state": "TIMEDOUT",
                      "error_message": f"Timed out after {exc.limit} s (timeout_seconds); its warehouse queries "
                                       "were canceled."}
        except Exception as exc:
            logger.warning("task %s of run %s attempt %s failed: %s", key, run.run_id, attempt, exc)
            values = {"result_state": "FAILED", "error_message": f"{type(exc).__name__}: {exc}"[:2000],
                      "error_trace": traceback.format_exc()[-8000:]}
        total = time.perf_counter() - t0
        with self.store.begin() as conn:
            conn.execute(task_runs.update().where(task_runs.c.id == row_id).values(
                life_cycle_state="TERMINATED", end_time=_now(), setup_seconds=round(setup, 3),
                execution_seconds=round(total - setup, 3), **values))
        return str(values["result_state"])

    @staticmethod
    def _within(limit: int, body: Callable[[], Any], session: Any) -> Any:
        """``body()``, or ``_TimedOut`` after ``timeout_seconds`` (0: no limit). Python cannot stop a thread: the
        task's running warehouse queries are canceled (``session.cancel_all``) and the attempt is TIMEDOUT."""
        if not limit:
            return body()
        pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="task-attempt")
        future = pool.submit(body)
        try:
            return future.result(timeout=limit)
        except cf.TimeoutError:
            cancel = getattr(session, "cancel_all", None)
            if callable(cancel):
                try:
                    cancel()
                except Exception:  # the session may be gone with the warehouse: the timeout stands
                    logger.warning("canceling the queries of a timed-out task failed", exc_info=True)
            raise _TimedOut(limit) from None
        finally:
            pool.shutdown(wait=False)

    def _finish_run(self, run_id: int) -> Run:
        run = self.get_run(run_id)
        states = [t.state for t in run.tasks]
        if any(t.result_state in CANCELED_RESULTS for t in run.tasks) or run.life_cycle_state == "TERMINATING":
            result, message = "CANCELED", "Canceled: " + (run.state_message or "by request")
        elif all(s in (TaskState.SUCCEEDED, TaskState.SKIPPED) for s in states):
            result, message = "SUCCESS", ""
        else:
            failed = [self.spec.task(t.task_key).short_key for t in run.tasks if t.state == TaskState.FAILED]
            result, message = "FAILED", f"Failed: {', '.join(failed) or 'see tasks'}"
        if result == "CANCELED" and all(s in (TaskState.SUCCEEDED, TaskState.SKIPPED) for s in states):
            result, message = "SUCCESS", "Cancel arrived after every task had finished."
        with self.store.begin() as conn:
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(
                life_cycle_state="TERMINATED", result_state=result, end_time=_now(), state_message=message))
        return self.get_run(run_id)

