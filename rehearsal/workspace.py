"""A Databricks workspace emulator: the Jobs API 2.2's jobs and runs, executed for real on this machine.

What Databricks documents, and this emulator does:

- **Jobs**: create, get, list (exact case-insensitive ``name`` filter, paged), reset, update (by ``task_key``),
  delete. Settings are checked on the way in: unique task keys, known dependencies, no cycle, known
  ``run_if`` values, a readable ``quartz_cron_expression`` (``rehearsal.cron``).
- **Runs**: ``run-now`` with ``job_parameters`` (defaults from the job's ``parameters``, unknown names refused)
  and ``idempotency_token`` (the same token returns the same run); the ``schedule`` fires on the emulator's
  clock (``quartz_cron_expression``, ``timezone_id``, ``pause_status``; a jump over several firings fires the
  latest once); ``max_concurrent_runs`` with queueing on by default (as for jobs created with API 2.2;
  ``queue: {enabled: false}`` skips the run with ``MAX_CONCURRENT_RUNS_EXCEEDED`` instead).
- **Tasks** start when their ``depends_on`` are done and their ``run_if`` holds (ALL_SUCCESS, ALL_DONE,
  AT_LEAST_ONE_SUCCESS, NONE_FAILED, AT_LEAST_ONE_FAILED, ALL_FAILED; a dependency that did not run because
  of a failure upstream counts as failed). One that does not run ends UPSTREAM_FAILED, UPSTREAM_CANCELED or
  EXCLUDED with termination code ``SKIPPED``. A ``python_wheel_task`` runs the entry point of the wheel
  attached as the task's ``libraries: [{whl: ...}]`` (installed with ``pip install --no-deps --target``) in a
  subprocess: ``named_parameters`` as ``--name=value`` (or ``parameters`` as given), with dynamic value
  references (``{{job.parameters.X}}``, ``{{job.id}}``, ``{{job.run_id}}``, ``{{task.name}}``, ...)
  substituted, ``cwd`` a per-cluster folder, and the cluster's environment: ``new_cluster.spark_env_vars``
  and the workspace's ``cluster_env`` (what a cluster policy or init script would set), where
  ``{{secrets/scope/key}}`` is replaced by the secret, as Databricks does. A ``spark_python_task`` runs its
  ``python_file`` the same way (the synthetic jobs of the tests use it).
- ``max_retries`` (``-1``: unlimited) and ``min_retry_interval_millis`` (waited on the emulator's clock, so a
  test can jump it), ``retry_on_timeout``; ``timeout_seconds`` of a task (real time: the process is killed,
  TIMEDOUT) and of the job (every running task is stopped, the run is TIMEDOUT).
- **Repair** (``rerun_tasks`` or ``rerun_all_failed_tasks``, ``rerun_dependent_tasks``, ``latest_repair_id``
  required after the first repair, ``job_parameters`` replacing the run's), **cancel** (processes killed,
  USER_CANCELED), ``runs/get`` with ``repair_history`` and ``status`` + ``termination_details`` besides the
  deprecated ``state``, ``runs/list`` (paged; ``start_time_from``/``to``, ``active_only``, ``completed_only``,
  ``expand_tasks``), ``runs/get-output`` (``logs`` = the task's stdout and stderr, ``error``, ``error_trace``),
  and ``clusters/events`` (CREATING, RUNNING, TERMINATING of each job cluster).

What it does not: notebooks, SQL, dbt and other task kinds (refused at create with a clear message), pools,
permissions, the Files and DBFS APIs (``put_file`` puts a file at a workspace path from Python). Everything is
in memory; timestamps come from the emulator's clock (``rehearsal.clock``).
"""

from __future__ import annotations

import copy
import datetime as dt
import graphlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rehearsal.clock import EmulatorClock
from rehearsal.cron import CronError, QuartzCron
from rehearsal.wheel import install_wheel

logger = logging.getLogger(__name__)

PAGE = 100  # Jobs API 2.2 pages a run's or a job's arrays at 100 elements
ACTIVE = ("PENDING", "QUEUED", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY")
RUN_IFS = ("ALL_SUCCESS", "ALL_DONE", "NONE_FAILED", "AT_LEAST_ONE_SUCCESS", "AT_LEAST_ONE_FAILED", "ALL_FAILED")
SUPPORTED_TASKS = ("python_wheel_task", "spark_python_task")
FAILED = ("FAILED", "TIMEDOUT", "UPSTREAM_FAILED")
CANCELED = ("CANCELED", "UPSTREAM_CANCELED")
LOG_LIMIT = 64_000  # characters of a task's output kept for runs/get-output (the rest is cut, logs_truncated)
# Termination (code, type, message) of a result, as Databricks reports them in status.termination_details.
TERMINATION = {
    "SUCCESS": ("SUCCESS", "SUCCESS", ""),
    "SUCCESS_WITH_FAILURES": ("SUCCESS_WITH_FAILURES", "SUCCESS", "Leaf tasks succeeded; some tasks failed."),
    "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR", "Workload failed, see run output for details"),
    "TIMEDOUT": ("CANCELED", "CLIENT_ERROR", "The run was stopped after reaching its timeout."),
    "CANCELED": ("USER_CANCELED", "SUCCESS", "The run was canceled by a user."),
    "UPSTREAM_FAILED": ("SKIPPED", "SUCCESS", "The task did not run: an upstream task failed."),
    "UPSTREAM_CANCELED": ("SKIPPED", "SUCCESS", "The task did not run: an upstream task was canceled."),
    "EXCLUDED": ("SKIPPED", "SUCCESS", "The task did not run: its run_if condition was not met."),
}
_REFERENCE = re.compile(r"{{\s*([^{}]+?)\s*}}")
_SECRET = re.compile(r"{{\s*secrets/([^/{}\s]+)/([^{}\s]+)\s*}}")
# Run the entry point of an installed distribution as Databricks' wheel task does: by package and name.
_LAUNCHER = """
import sys
from importlib.metadata import PackageNotFoundError, distribution
package, name, *args = sys.argv[1:]
try:
    dist = distribution(package)
except PackageNotFoundError:
    sys.exit(f"python_wheel_task: package {package!r} is not installed on the cluster; attach its wheel to the "
             "task (libraries: [{whl: ...}]).")
points = [e for e in dist.entry_points if e.name == name]
if not points:
    sys.exit(f"python_wheel_task: package {package!r} has no entry point {name!r}.")
sys.argv = [name, *args]
sys.exit(points[0].load()())
"""


class ApiError(Exception):
    """A Jobs API error reply: HTTP status, ``error_code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def _set_state(obj: dict[str, Any], life: str, result: str | None = None, message: str = "") -> None:
    """The deprecated ``state`` and its successor ``status`` (+ ``termination_details``), side by side."""
    legacy: dict[str, Any] = {"life_cycle_state": life, "state_message": message,
                              "user_cancelled_or_timedout": result in ("CANCELED", "TIMEDOUT")}
    status: dict[str, Any] = {"state": {"WAITING_FOR_RETRY": "WAITING", "SKIPPED": "TERMINATED",
                                        "INTERNAL_ERROR": "TERMINATED"}.get(life, life)}
    if result:
        legacy["result_state"] = result
    if life in ("TERMINATED", "SKIPPED", "INTERNAL_ERROR"):
        code, kind, default = TERMINATION.get(result or "", ("INTERNAL_ERROR", "INTERNAL_ERROR", ""))
        if life == "SKIPPED":
            code, kind = "MAX_CONCURRENT_RUNS_EXCEEDED", "CLIENT_ERROR"
        status["termination_details"] = {"code": code, "type": kind, "message": message or default}
        legacy["state_message"] = message or default
    elif life == "QUEUED":
        status["queue_details"] = {"code": "ACTIVE_RUNS_LIMIT_REACHED", "message": message}
    obj["state"], obj["status"] = legacy, status
    obj["_result"] = result


def _terminal(task: dict[str, Any]) -> bool:
    return task["state"]["life_cycle_state"] not in ACTIVE


def run_if_verdict(condition: str, results: list[str | None]) -> str | None:
    """None when a task with ``condition`` runs after dependencies that ended with ``results``; else the result
    it ends with without running (UPSTREAM_FAILED, UPSTREAM_CANCELED or EXCLUDED)."""
    n = len(results)
    ok = sum(r in ("SUCCESS", "SUCCESS_WITH_FAILURES") for r in results)
    failed = sum(r in FAILED for r in results)
    canceled = sum(r in CANCELED for r in results)
    ran = sum(r not in ("UPSTREAM_FAILED", "UPSTREAM_CANCELED", "EXCLUDED") for r in results)
    if n == 0:
        return None
    runs = {"ALL_SUCCESS": ok == n, "AT_LEAST_ONE_SUCCESS": ok >= 1, "NONE_FAILED": failed == 0 and ran >= 1,
            "ALL_DONE": True, "AT_LEAST_ONE_FAILED": failed >= 1, "ALL_FAILED": failed == n}[condition]
    if runs:
        return None
    if condition in ("ALL_SUCCESS", "AT_LEAST_ONE_SUCCESS", "NONE_FAILED") and failed:
        return "UPSTREAM_FAILED"
    if condition in ("ALL_SUCCESS", "AT_LEAST_ONE_SUCCESS") and canceled:
        return "UPSTREAM_CANCELED"
    return "EXCLUDED"


def _error_of(stderr: str, code: int) -> tuple[str, str]:
    """``(error, error_trace)`` of a failed Python process from its stderr: the last traceback, up to its
    exception line (log lines written after it, e.g. Snowpark closing its session, are not the error)."""
    start = stderr.rfind("Traceback (most recent call last):")
    if start < 0:
        lines = [line for line in stderr.splitlines() if line.strip()]
        return (lines[-1].strip() if lines else f"the process exited with status {code}"), ""
    block = stderr[start:].splitlines()
    end = next((i for i, line in enumerate(block[1:], 1) if line.strip() and not line.startswith((" ", "\t"))),
               len(block) - 1)
    return block[end].strip(), "\n".join(block[:end + 1]).strip()


class Workspace:
    """Jobs and runs in memory, a scheduler thread, and a thread per active run that starts its tasks."""

    def __init__(self, work_dir: Path, clock: EmulatorClock | None = None, *,
                 secrets: dict[str, dict[str, str]] | None = None, cluster_env: dict[str, str] | None = None,
                 python: str = sys.executable, max_parallel_tasks: int = 3, user: str = "rehearsal@example.com",
                 host: str = "") -> None:
        """``secrets``: scope → key → value (for ``{{secrets/scope/key}}``; never logged or returned).
        ``cluster_env``: environment variables of every job cluster, after ``spark_env_vars``."""
        self.work_dir = work_dir
        self.files_root = work_dir / "files"
        self.clock = clock or EmulatorClock()
        self.secrets = secrets or {}
        self.cluster_env = dict(cluster_env or {})
        self.python = python
        self.user = user
        self.host = host
        self.lock = threading.RLock()
        self.jobs: dict[int, dict[str, Any]] = {}
        self.runs: dict[int, dict[str, Any]] = {}
        self.tokens: dict[str, int] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self._next_id = 100
        self._slots = threading.BoundedSemaphore(max_parallel_tasks)
        self._install_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._scheduler: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> Workspace:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._scheduler = threading.Thread(target=self._schedule_loop, name="rehearsal-scheduler", daemon=True)
        self._scheduler.start()
        return self

    def stop(self) -> None:
        """Stop the scheduler, cancel every active run and wait for its processes to end."""
        with self.lock:
            active = [r for r in self.runs.values() if r["state"]["life_cycle_state"] in ACTIVE]
        for run in active:
            self._cancel(run, "The workspace emulator stopped.")
        self._stop.set()
        for thread in [self._scheduler, *self._threads]:
            if thread is not None:
                thread.join(timeout=10)

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def put_file(self, workspace_path: str, source: Path) -> str:
        """Put ``source`` at ``workspace_path`` (``/Workspace/...``, ``/Volumes/...`` or ``dbfs:/...``)."""
        target = self._local(workspace_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        return workspace_path

    def _local(self, workspace_path: str) -> Path:
        path = workspace_path.removeprefix("dbfs:")
        if not path.startswith("/") or ".." in Path(path).parts:
            raise invalid(f"{workspace_path!r}: expected an absolute workspace path such as /Workspace/Shared/x.whl.")
        return self.files_root / path.lstrip("/")

    # ---------------------------------------------------------------- jobs
    def _check_settings(self, settings: dict[str, Any]) -> None:
        tasks = settings.get("tasks") or []
        keys = [t.get("task_key") for t in tasks]
        if not tasks or not all(keys) or len(set(keys)) != len(keys):
            raise invalid("Job settings need tasks, each with a unique task_key.")
        clusters = {c.get("job_cluster_key") for c in settings.get("job_clusters") or []}
        graph = {}
        for task in tasks:
            key = task["task_key"]
            deps = [d.get("task_key") for d in task.get("depends_on") or []]
            unknown = [d for d in deps if d not in keys]
            if unknown:
                raise invalid(f"Task {key} depends on unknown task(s) {unknown}.")
            graph[key] = deps
            if task.get("run_if", "ALL_SUCCESS") not in RUN_IFS:
                raise invalid(f"Task {key}: run_if {task.get('run_if')!r} is not one of {', '.join(RUN_IFS)}.")
            kinds = [k for k in task if k.endswith("_task")]
            if kinds != [k for k in kinds if k in SUPPORTED_TASKS] or not kinds:
                raise invalid(f"Task {key}: the emulator runs {' and '.join(SUPPORTED_TASKS)} only; got {kinds}.")
            if task.get("job_cluster_key") and task["job_cluster_key"] not in clusters:
                raise invalid(f"Task {key}: job_cluster_key {task['job_cluster_key']!r} is not in job_clusters.")
        try:
            tuple(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as exc:
            raise invalid(f"The tasks' depends_on form a cycle: {exc.args[1]}.") from None
        schedule = settings.get("schedule")
        if schedule:
            try:
                QuartzCron.parse(schedule.get("quartz_cron_expression", ""))
            except CronError as exc:
                raise invalid(str(exc)) from None
            if not schedule.get("timezone_id"):
                raise invalid("schedule.timezone_id is required (e.g. America/New_York).")

    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        settings = {k: v for k, v in body.items() if k not in ("access_control_list",)}
        self._check_settings(settings)
        with self.lock:
            job_id = self._id()
            self.jobs[job_id] = {"job_id": job_id, "created_time": self.clock.ms(), "creator_user_name": self.user,
                                 "run_as_user_name": self.user, "settings": copy.deepcopy(settings),
                                 "_mark": self.clock.now()}
            return {"job_id": job_id}

    def _job(self, job_id: Any) -> dict[str, Any]:
        job = self.jobs.get(int(job_id or 0))
        if job is None:
            raise invalid(f"Job {job_id} does not exist.")
        return job

    @classmethod
    def _public(cls, obj: dict[str, Any]) -> dict[str, Any]:
        """The API's view: internal ``_`` fields (processes, logs, the task's spec) left out, tasks included."""
        return {k: [cls._public(t) for t in v] if k == "tasks" and isinstance(v, list) and v and "_result" in v[0]
                else copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}

    def get_job(self, q: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            return self._public(self._job(q.get("job_id")))

    def list_jobs(self, q: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            jobs = sorted(self.jobs.values(), key=lambda j: j["job_id"])
            if q.get("name"):
                jobs = [j for j in jobs if j["settings"].get("name", "").lower() == q["name"].lower()]
            limit = min(max(int(q.get("limit") or 20), 1), 100)
            offset = int(q.get("page_token") or q.get("offset") or 0)
            page = []
            for job in jobs[offset:offset + limit]:
                public = self._public(job)
                if q.get("expand_tasks") != "true":
                    public["settings"] = {k: v for k, v in public["settings"].items()
                                          if k not in ("tasks", "job_clusters")}
                page.append(public)
            out: dict[str, Any] = {"jobs": page, "has_more": offset + limit < len(jobs)}
            if out["has_more"]:
                out["next_page_token"] = str(offset + limit)
            return out

    def reset_job(self, body: dict[str, Any]) -> dict[str, Any]:
        settings = copy.deepcopy(body.get("new_settings") or {})
        self._check_settings(settings)
        with self.lock:
            job = self._job(body.get("job_id"))
            job["settings"], job["_mark"] = settings, self.clock.now()
        return {}

    def update_job(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            job = self._job(body.get("job_id"))
            settings = copy.deepcopy(job["settings"])
            for name, value in (body.get("new_settings") or {}).items():
                if name in ("tasks", "job_clusters"):  # merged by key, as documented for partial updates
                    key = "task_key" if name == "tasks" else "job_cluster_key"
                    items = {i[key]: i for i in settings.get(name) or []}
                    items.update({i[key]: i for i in value})
                    settings[name] = list(items.values())
                else:
                    settings[name] = value
            for field in body.get("fields_to_remove") or []:
                name, _, key = field.partition("/")
                if key:
                    item_key = "task_key" if name == "tasks" else "job_cluster_key"
                    settings[name] = [i for i in settings.get(name) or [] if i.get(item_key) != key]
                else:
                    settings.pop(name, None)
            self._check_settings(settings)
            job["settings"], job["_mark"] = settings, self.clock.now()
        return {}

    def delete_job(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.jobs.pop(int(self._job(body.get("job_id"))["job_id"]))
        return {}

    # ---------------------------------------------------------------- runs: creation
    def run_now(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            token = body.get("idempotency_token")
            if token and token in self.tokens:
                run_id = self.tokens[token]
                return {"run_id": run_id, "number_in_job": self.runs[run_id]["number_in_job"]}
            job = self._job(body.get("job_id"))
            run = self._new_run(job, body.get("job_parameters") or {}, "ONE_TIME", body.get("queue"))
            if token:
                self.tokens[token] = run["run_id"]
            return {"run_id": run["run_id"], "number_in_job": run["number_in_job"]}

    def _parameters(self, settings: dict[str, Any], given: dict[str, str]) -> list[dict[str, str]]:
        defined = {p["name"]: p.get("default", "") for p in settings.get("parameters") or []}
        unknown = sorted(set(given) - set(defined))
        if unknown:
            raise invalid(f"Job parameter(s) {unknown} are not defined in the job's parameters "
                          f"({sorted(defined) or 'none'}).")
        return [{"name": n, "default": d, "value": str(given.get(n, d))} for n, d in defined.items()]

    def _new_run(self, job: dict[str, Any], params: dict[str, str], trigger: str,
                 queue: dict[str, Any] | None = None) -> dict[str, Any]:
        settings = copy.deepcopy(job["settings"])
        parameters = self._parameters(settings, params)
        run_id = self._id()
        now = self.clock.ms()
        run: dict[str, Any] = {
            "job_id": job["job_id"], "run_id": run_id, "run_name": settings.get("name", ""),
            "number_in_job": run_id, "original_attempt_run_id": run_id, "trigger": trigger,
            "creator_user_name": self.user, "start_time": now, "setup_duration": 0, "execution_duration": 0,
            "cleanup_duration": 0, "end_time": 0, "run_duration": 0, "run_type": "JOB_RUN",
            "run_page_url": f"{self.host}/jobs/{job['job_id']}/runs/{run_id}", "job_parameters": parameters,
            "job_clusters": settings.get("job_clusters") or [], "tasks": [],
            "repair_history": [{"type": "ORIGINAL", "id": run_id, "start_time": now, "end_time": 0,
                                "task_run_ids": []}],
            "_settings": settings, "_cancel": "", "_timed_out": False, "_started": None,
            "_clusters": {},
        }
        for task in settings["tasks"]:
            self._add_task_run(run, task, attempt=0)
        enabled = (queue or settings.get("queue") or {"enabled": True}).get("enabled", True)
        active = [r for r in self.runs.values() if r["job_id"] == job["job_id"]
                  and r["state"]["life_cycle_state"] in ACTIVE]
        limit = int(settings.get("max_concurrent_runs") or 1)
        self.runs[run_id] = run
        if len(active) >= limit and not enabled:
            _set_state(run, "SKIPPED", None, f"Skipping this run because the limit of {limit} maximum concurrent "
                                             "runs has been reached.")
            for task in run["tasks"]:
                _set_state(task, "SKIPPED", None, "The run was skipped.")
            run["end_time"] = now
            return run
        _set_state(run, "QUEUED" if len(active) >= limit else "PENDING", None,
                   "Queued: the job's maximum concurrent runs are active." if len(active) >= limit else "")
        self._drive_in_background(run_id)
        return run

    def _add_task_run(self, run: dict[str, Any], task: dict[str, Any], attempt: int) -> dict[str, Any]:
        key = task["task_key"]
        cluster = task.get("existing_cluster_id") or self._cluster_id(run, task.get("job_cluster_key") or key)
        entry = {"task_key": key, "run_id": self._id(), "attempt_number": attempt,
                 "depends_on": task.get("depends_on") or [], "run_if": task.get("run_if", "ALL_SUCCESS"),
                 "description": task.get("description", ""), "start_time": 0, "end_time": 0, "setup_duration": 0,
                 "execution_duration": 0, "cleanup_duration": 0, "cluster_instance": {"cluster_id": cluster},
                 "run_page_url": f"{self.host}/jobs/{run['job_id']}/runs/{run['run_id']}",
                 "_spec": task}
        for kind in SUPPORTED_TASKS:
            if kind in task:
                entry[kind] = copy.deepcopy(task[kind])
        _set_state(entry, "PENDING")
        run["tasks"].append(entry)
        run["repair_history"][-1]["task_run_ids"].append(entry["run_id"])
        return entry

    def _cluster_id(self, run: dict[str, Any], key: str) -> str:
        clusters = run["_clusters"]
        if key not in clusters:
            moment = self.clock.now()
            clusters[key] = f"{moment:%m%d-%H%M%S}-r{run['run_id']}-{len(clusters)}"
        return str(clusters[key])

    # ---------------------------------------------------------------- runs: reads
    def _run(self, run_id: Any) -> dict[str, Any]:
        run = self.runs.get(int(run_id or 0))
        if run is None:
            raise invalid(f"Run {run_id} does not exist.")
        return run

    def get_run(self, q: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            run = self._run(q.get("run_id"))
            public = self._public(run)
            offset = int(q.get("page_token") or 0)
            public["tasks"] = [self._public(t) for t in run["tasks"]][offset:offset + PAGE]
            if offset:  # later pages carry only the arrays' remaining elements
                public["repair_history"], public["job_parameters"], public["job_clusters"] = [], [], []
            elif q.get("include_history") != "true":
                public.pop("repair_history", None)
            if offset + PAGE < len(run["tasks"]):
                public["next_page_token"] = str(offset + PAGE)
                public["has_more"] = True
            return public

    def list_runs(self, q: dict[str, str]) -> dict[str, Any]:
        if q.get("active_only") == "true" and q.get("completed_only") == "true":
            raise invalid("active_only and completed_only cannot both be true.")
        with self.lock:
            runs = [r for r in self.runs.values() if not q.get("job_id") or r["job_id"] == int(q["job_id"])]
            if q.get("start_time_from"):
                runs = [r for r in runs if r["start_time"] >= int(q["start_time_from"])]
            if q.get("start_time_to"):
                runs = [r for r in runs if r["start_time"] <= int(q["start_time_to"])]
            if q.get("active_only") == "true":
                runs = [r for r in runs if r["state"]["life_cycle_state"] in ACTIVE]
            if q.get("completed_only") == "true":
                runs = [r for r in runs if r["state"]["life_cycle_state"] not in ACTIVE]
            runs.sort(key=lambda r: (-r["start_time"], -r["run_id"]))
            limit = int(q.get("limit") or 20)
            if not 1 <= limit <= 25:
                raise invalid(f"limit must be from 1 to 25; got {limit}.")
            offset = int(q.get("page_token") or q.get("offset") or 0)
            out_runs = []
            for run in runs[offset:offset + limit]:
                public = self._public(run)
                public.pop("repair_history", None)
                if q.get("expand_tasks") == "true":
                    public["tasks"] = [self._public(t) for t in run["tasks"]][:PAGE]
                    public["has_more"] = len(run["tasks"]) > PAGE
                else:
                    public.pop("tasks", None)
                out_runs.append(public)
            out: dict[str, Any] = {"runs": out_runs, "has_more": offset + limit < len(runs)}
            if out["has_more"]:
                out["next_page_token"] = str(offset + limit)
            if offset:
                out["prev_page_token"] = str(max(0, offset - limit))
            return out

    def get_run_output(self, q: dict[str, str]) -> dict[str, Any]:
        task_run_id = int(q.get("run_id") or 0)
        with self.lock:
            if task_run_id in self.runs:
                raise invalid("Retrieving the output of runs with multiple tasks is not supported. Please retrieve "
                              "the output of each individual task run instead.")
            for run in self.runs.values():
                for task in run["tasks"]:
                    if task["run_id"] == task_run_id:
                        out: dict[str, Any] = {"metadata": self._public(task)}
                        logs = task.get("_logs", "")
                        out["logs"], out["logs_truncated"] = logs[-LOG_LIMIT:], len(logs) > LOG_LIMIT
                        if task.get("_error"):
                            out["error"] = task["_error"]
                            out["error_trace"] = task.get("_trace", "")
                        return out
        raise invalid(f"Run {task_run_id} does not exist.")

    def cluster_events(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            events = list(self.events.get(str(body.get("cluster_id")), []))
        if body.get("order", "DESC") == "DESC":
            events.reverse()
        if body.get("event_types"):
            events = [e for e in events if e["type"] in body["event_types"]]
        offset, limit = int(body.get("offset") or 0), int(body.get("limit") or 50)
        out: dict[str, Any] = {"events": events[offset:offset + limit], "total_count": len(events)}
        if offset + limit < len(events):
            out["next_page"] = {**body, "offset": offset + limit}
        return out

    def _event(self, cluster_id: str, kind: str, **details: Any) -> None:
        self.events.setdefault(cluster_id, []).append(
            {"cluster_id": cluster_id, "timestamp": self.clock.ms(), "type": kind, "details": details})

    # ---------------------------------------------------------------- runs: actions
    def cancel_run(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            run = self._run(body.get("run_id"))
        self._cancel(run, "The run was canceled by a user.")
        return {}

    def _cancel(self, run: dict[str, Any], message: str, timed_out: bool = False) -> None:
        with self.lock:
            if run["state"]["life_cycle_state"] not in ACTIVE:
                return
            run["_cancel"], run["_timed_out"] = message, timed_out
            for task in self._latest(run).values():
                if task["state"]["life_cycle_state"] in ("PENDING", "QUEUED", "WAITING_FOR_RETRY", "BLOCKED") \
                        and task.get("_proc") is None:
                    _set_state(task, "TERMINATED", "CANCELED", message)
                    task["end_time"] = self.clock.ms()
                proc = task.get("_proc")
                if proc is not None and proc.poll() is None:
                    self._kill(proc)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def repair_run(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            run = self._run(body.get("run_id"))
            if run["state"]["life_cycle_state"] in ACTIVE:
                raise ApiError(400, "INVALID_STATE_TRANSITION",
                               f"Run {run['run_id']} is not in a terminal state and cannot be repaired.")
            repairs = [r["id"] for r in run["repair_history"] if r["type"] == "REPAIR"]
            if repairs and body.get("latest_repair_id") != repairs[-1]:
                raise invalid(f"The latest repair ID of run {run['run_id']} is {repairs[-1]}; latest_repair_id "
                              f"{body.get('latest_repair_id')} does not match (it is required after the first "
                              "repair).")
            latest = self._latest(run)
            if body.get("rerun_all_failed_tasks"):
                chosen = {k for k, t in latest.items() if t["_result"] not in ("SUCCESS", "EXCLUDED")}
            else:
                chosen = set(body.get("rerun_tasks") or [])
            unknown = sorted(chosen - set(latest))
            if unknown or not chosen:
                raise invalid(f"Unknown task(s) to rerun: {unknown}." if unknown else
                              "Nothing to repair: give rerun_tasks, or rerun_all_failed_tasks on a run with failures.")
            if body.get("rerun_dependent_tasks"):
                frontier = list(chosen)
                while frontier:
                    key = frontier.pop()
                    for other, task in latest.items():
                        if key in [d["task_key"] for d in task["depends_on"]] and other not in chosen:
                            chosen.add(other)
                            frontier.append(other)
            if body.get("job_parameters"):
                current = {p["name"]: p["value"] for p in run["job_parameters"]}
                run["job_parameters"] = self._parameters(run["_settings"], {**current, **body["job_parameters"]})
            repair_id = self._id()
            run["repair_history"].append({"type": "REPAIR", "id": repair_id, "start_time": self.clock.ms(),
                                          "end_time": 0, "task_run_ids": []})
            specs = {t["task_key"]: t for t in run["_settings"]["tasks"]}
            for key in [t["task_key"] for t in run["_settings"]["tasks"] if t["task_key"] in chosen]:
                self._add_task_run(run, specs[key], attempt=0)
            run["_cancel"], run["_timed_out"], run["_started"], run["end_time"] = "", False, None, 0
            _set_state(run, "PENDING")
            self._drive_in_background(run["run_id"])
            return {"repair_id": repair_id}

    # ---------------------------------------------------------------- scheduling
    def _schedule_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._fire_schedules()
            except Exception:  # a bad job must not stop the scheduler of every other job
                logger.exception("rehearsal scheduler: firing schedules failed")
            self.clock.wait(0.1)

    def _fire_schedules(self) -> None:
        now = self.clock.now()
        with self.lock:
            for job in list(self.jobs.values()):
                schedule = job["settings"].get("schedule")
                if not schedule or schedule.get("pause_status", "UNPAUSED") == "PAUSED":
                    job["_mark"] = now
                    continue
                cron = QuartzCron.parse(schedule["quartz_cron_expression"])
                if now < job["_mark"]:  # the clock was set back: follow it
                    job["_mark"] = now
                fire = cron.next_after(job["_mark"], schedule["timezone_id"])
                if fire is None or fire > now:
                    continue
                while True:  # a jump over several firings fires the latest one, once
                    later = cron.next_after(fire, schedule["timezone_id"])
                    if later is None or later > now:
                        break
                    fire = later
                job["_mark"] = fire
                logger.info("rehearsal: schedule of job %s fires for %s", job["job_id"], fire.isoformat())
                self._new_run(job, {}, "PERIODIC")

    # ---------------------------------------------------------------- execution
    def _drive_in_background(self, run_id: int) -> None:
        thread = threading.Thread(target=self._drive, args=(run_id,), name=f"rehearsal-run-{run_id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    @staticmethod
    def _latest(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for task in run["tasks"]:
            latest[task["task_key"]] = task
        return latest

    def _drive(self, run_id: int) -> None:
        """Start the run's tasks as they become ready until every task has ended; then end the run."""
        while not self._stop.is_set():
            with self.lock:
                if self._step(self.runs[run_id]):
                    return
            self.clock.wait(0.05)

    def _step(self, run: dict[str, Any]) -> bool:
        life = run["state"]["life_cycle_state"]
        if life == "QUEUED" and not run["_cancel"]:
            others = [r for r in self.runs.values() if r["job_id"] == run["job_id"] and r is not run
                      and r["state"]["life_cycle_state"] in ACTIVE]
            limit = int(run["_settings"].get("max_concurrent_runs") or 1)
            running = [r for r in others if r["state"]["life_cycle_state"] != "QUEUED"]
            first_queued = min([r["run_id"] for r in others if r["state"]["life_cycle_state"] == "QUEUED"]
                               + [run["run_id"]])
            if len(running) >= limit or first_queued != run["run_id"]:
                return False
        if run["_started"] is None:
            run["_started"] = time.monotonic()
            _set_state(run, "RUNNING")
        timeout = int(run["_settings"].get("timeout_seconds") or 0)
        if timeout and not run["_cancel"] and time.monotonic() - run["_started"] > timeout:
            self._cancel(run, f"The run timed out after {timeout} s (the job's timeout_seconds).", timed_out=True)
        latest = self._latest(run)
        now = self.clock.ms()
        for task in latest.values():
            state = task["state"]["life_cycle_state"]
            if state == "PENDING" and not task.get("_claimed") and not run["_cancel"]:
                deps = [latest[d["task_key"]] for d in task["depends_on"]]
                if not all(_terminal(d) for d in deps):
                    continue
                verdict = run_if_verdict(task["run_if"], [d["_result"] for d in deps])
                if verdict is not None:
                    _set_state(task, "TERMINATED", verdict)
                    task["start_time"] = task["end_time"] = now
                    continue
                self._start_task(run, task)
            elif state == "WAITING_FOR_RETRY" and now >= task.get("_retry_at", 0) and not task.get("_claimed"):
                self._start_task(run, task)
        if all(_terminal(t) for t in latest.values()):
            self._finish(run, latest)
            return True
        return False

    def _start_task(self, run: dict[str, Any], task: dict[str, Any]) -> None:
        task["_claimed"] = True
        thread = threading.Thread(target=self._execute, args=(run, task), daemon=True,
                                  name=f"rehearsal-task-{task['run_id']}")
        self._threads.append(thread)
        thread.start()

    def _finish(self, run: dict[str, Any], latest: dict[str, dict[str, Any]]) -> None:
        results = {k: t["_result"] for k, t in latest.items()}
        failed = sorted(k for k, r in results.items() if r not in ("SUCCESS", "EXCLUDED"))
        if run["_timed_out"]:
            result, message = "TIMEDOUT", run["_cancel"]
        elif run["_cancel"]:
            result, message = "CANCELED", run["_cancel"]
        elif not failed:
            result, message = "SUCCESS", ""
        else:
            upstream = {d["task_key"] for t in latest.values() for d in t["depends_on"]}
            leaves_ok = all(results[k] == "SUCCESS" for k in latest if k not in upstream)
            result = "SUCCESS_WITH_FAILURES" if leaves_ok else "FAILED"
            message = f"{len(failed)} task(s) did not succeed: {', '.join(failed)}."
        now = self.clock.ms()
        _set_state(run, "TERMINATED", result, message)
        run["end_time"] = now
        run["run_duration"] = now - run["start_time"]
        run["execution_duration"] = sum(t["execution_duration"] for t in run["tasks"])
        entry = run["repair_history"][-1]
        entry["end_time"] = now
        entry["state"], entry["status"] = copy.deepcopy(run["state"]), copy.deepcopy(run["status"])
        if entry["type"] == "ORIGINAL":
            run["repair_history"][0] = entry
        for cluster_id in run["_clusters"].values():
            self._event(cluster_id, "TERMINATING", reason={"code": "JOB_FINISHED", "type": "SUCCESS"})

    def _execute(self, run: dict[str, Any], task: dict[str, Any]) -> None:
        """One attempt of one task: wait for a slot, run its process, record how it ended, plan a retry."""
        with self._slots:
            try:  # installing a wheel takes a second or two: not under the workspace's lock
                libraries = self._libraries(task)
            except ApiError as exc:
                with self.lock:
                    self._end_task(run, task, "FAILED", exc.message, "", "")
                return
            with self.lock:
                if run["_cancel"]:
                    _set_state(task, "TERMINATED", "CANCELED", run["_cancel"])
                    task["end_time"] = self.clock.ms()
                    return
                task["start_time"] = self.clock.ms()
                _set_state(task, "RUNNING")
                cluster_id = task["cluster_instance"]["cluster_id"]
                if not any(e["type"] == "RUNNING" for e in self.events.get(cluster_id, [])):
                    self._event(cluster_id, "CREATING", user=self.user)
                    self._event(cluster_id, "RUNNING", current_num_workers=2)
                try:
                    command, env, cwd = self._command(run, task, libraries)
                except ApiError as exc:  # a setup problem: the task fails without a process
                    self._end_task(run, task, "FAILED", exc.message, "", "")
                    return
                except Exception as exc:  # the emulator's own bug: fail the task, never leave it RUNNING
                    logger.exception("rehearsal workspace: preparing task %s failed", task["task_key"])
                    self._end_task(run, task, "FAILED", f"emulator error: {type(exc).__name__}: {exc}", "", "")
                    return
                out = self.work_dir / "task-runs" / str(task["run_id"])
                out.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            with (out / "stdout.txt").open("wb") as stdout, (out / "stderr.txt").open("wb") as stderr:
                try:
                    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=stdout, stderr=stderr,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
                except OSError as exc:
                    with self.lock:
                        self._end_task(run, task, "FAILED", f"could not start the task's process: {exc}", "", "")
                    return
                with self.lock:
                    task["_proc"] = proc
                    canceled_before = bool(run["_cancel"])
                if canceled_before:
                    self._kill(proc)
                limit = int(task["_spec"].get("timeout_seconds") or 0) or None
                timed_out = False
                try:
                    code = proc.wait(timeout=limit)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    self._kill(proc)
                    code = proc.wait()
            elapsed = time.monotonic() - started
            text_out = (out / "stdout.txt").read_text(encoding="utf-8", errors="replace")
            text_err = (out / "stderr.txt").read_text(encoding="utf-8", errors="replace")
            logs = text_out + (("\n" if text_out and not text_out.endswith("\n") else "") + text_err if text_err
                               else "")
            with self.lock:
                task["_proc"] = None
                task["execution_duration"] = int(elapsed * 1000)
                if timed_out:
                    self._end_task(run, task, "TIMEDOUT", f"Task timed out after {limit} s (timeout_seconds).",
                                   "", logs)
                elif run["_cancel"]:
                    self._end_task(run, task, "TIMEDOUT" if run["_timed_out"] else "CANCELED", run["_cancel"], "",
                                   logs)
                elif code == 0:
                    self._end_task(run, task, "SUCCESS", "", "", logs)
                else:
                    error, trace = _error_of(text_err, code)
                    self._end_task(run, task, "FAILED", error, trace, logs)

    def _end_task(self, run: dict[str, Any], task: dict[str, Any], result: str, error: str, trace: str,
                  logs: str) -> None:
        task["end_time"] = self.clock.ms()
        task["_logs"], task["_error"], task["_trace"] = logs, error if result != "SUCCESS" else "", trace
        message = {"FAILED": "Workload failed, see run output for details"}.get(result, error)
        _set_state(task, "TERMINATED", result, message)
        spec = task["_spec"]
        retries = int(spec.get("max_retries") or 0)
        retry = result == "FAILED" or (result == "TIMEDOUT" and spec.get("retry_on_timeout") and not run["_cancel"])
        attempts_in_repair = sum(t["task_key"] == task["task_key"] for t in self._repair_tasks(run))
        if retry and not run["_cancel"] and (retries < 0 or attempts_in_repair <= retries):
            again = self._add_task_run(run, spec, attempt=task["attempt_number"] + 1)
            again["original_attempt_run_id"] = task.get("original_attempt_run_id", task["run_id"])
            again["_retry_at"] = self.clock.ms() + int(spec.get("min_retry_interval_millis") or 0)
            _set_state(again, "WAITING_FOR_RETRY", None, "Waiting for the retry interval (min_retry_interval_millis).")

    @staticmethod
    def _repair_tasks(run: dict[str, Any]) -> list[dict[str, Any]]:
        """The task runs of the run's latest original or repair attempt."""
        ids = set(run["repair_history"][-1]["task_run_ids"])
        return [t for t in run["tasks"] if t["run_id"] in ids]

    # ---------------------------------------------------------------- the task's process
    def _substitute(self, text: str, run: dict[str, Any], task: dict[str, Any]) -> str:
        params = {p["name"]: p["value"] for p in run["job_parameters"]}
        start = dt.datetime.fromtimestamp(run["start_time"] / 1000, dt.UTC)
        values: dict[str, Callable[[], str]] = {
            "job.id": lambda: str(run["job_id"]), "job.run_id": lambda: str(run["run_id"]),
            "job.name": lambda: run["run_name"], "job.trigger.type": lambda: run["trigger"].lower(),
            "job.start_time.iso_date": lambda: start.date().isoformat(),
            "job.start_time.iso_datetime": lambda: start.isoformat(),
            "task.name": lambda: task["task_key"], "task.run_id": lambda: str(task["run_id"]),
        }

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("job.parameters."):
                key = name.removeprefix("job.parameters.")
                if key not in params:
                    raise ApiError(400, "INVALID_RUN_CONFIGURATION", f"{{{{{name}}}}}: the job has no parameter "
                                                                     f"{key!r}.")
                return params[key]
            if name.startswith("secrets/"):
                raise ApiError(400, "INVALID_RUN_CONFIGURATION", "secret references are allowed only in the "
                                                                 "cluster's environment variables.")
            if name not in values:
                raise ApiError(400, "INVALID_RUN_CONFIGURATION", f"{{{{{name}}}}}: this dynamic value reference is "
                                                                 f"not supported by the emulator ({', '.join(values)}, "
                                                                 "job.parameters.*).")
            return values[name]()

        return _REFERENCE.sub(value, text)

    def _secret(self, match: re.Match[str]) -> str:
        scope, key = match.group(1), match.group(2)
        try:
            return str(self.secrets[scope][key])  # Databricks secrets are strings
        except KeyError:
            raise ApiError(400, "INVALID_RUN_CONFIGURATION",
                           f"secret {key!r} does not exist in scope {scope!r}.") from None

    def _environment(self, run: dict[str, Any], task: dict[str, Any], pythonpath: list[Path]) -> dict[str, str]:
        clusters = {c["job_cluster_key"]: c.get("new_cluster") or {} for c in run["job_clusters"]}
        cluster = clusters.get(task["_spec"].get("job_cluster_key", ""), task["_spec"].get("new_cluster") or {})
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
               "DATABRICKS_RUNTIME_VERSION": str(cluster.get("spark_version", "15.4")).split(".x")[0]}
        for name, value in {**(cluster.get("spark_env_vars") or {}), **self.cluster_env}.items():
            env[name] = _SECRET.sub(self._secret, str(value))
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
        return env

    def _libraries(self, task: dict[str, Any]) -> list[Path]:
        targets = []
        for library in task["_spec"].get("libraries") or []:
            if "whl" not in library:
                raise ApiError(400, "LIBRARY_INSTALLATION_ERROR", f"library {library}: the emulator installs "
                                                                  "wheels (whl) only.")
            wheel = self._local(library["whl"])
            if not wheel.is_file():
                raise ApiError(400, "LIBRARY_INSTALLATION_ERROR",
                               f"Library installation failed: {library['whl']} does not exist in the workspace.")
            with self._install_lock:
                targets.append(install_wheel(wheel, self.work_dir / "libraries" / wheel.stem))
        return targets

    def _command(self, run: dict[str, Any], task: dict[str, Any], libraries: list[Path]
                 ) -> tuple[list[str], dict[str, str], Path]:
        cwd = self.work_dir / "clusters" / task["cluster_instance"]["cluster_id"]
        cwd.mkdir(parents=True, exist_ok=True)
        env = self._environment(run, task, libraries)
        env["HOME"] = str(cwd)
        if "python_wheel_task" in task:
            wheel = task["python_wheel_task"]
            named = wheel.get("named_parameters") or {}
            args = [f"--{k}={self._substitute(str(v), run, task)}" for k, v in named.items()] if named else [
                self._substitute(str(a), run, task) for a in wheel.get("parameters") or []]
            return [self.python, "-c", _LAUNCHER, wheel["package_name"], wheel["entry_point"], *args], env, cwd
        script = task["spark_python_task"]
        path = script["python_file"]
        local = Path(path) if Path(path).is_file() else self._local(path)
        if not local.is_file():
            raise ApiError(400, "RESOURCE_NOT_FOUND", f"python_file {path} does not exist.")
        args = [self._substitute(str(a), run, task) for a in script.get("parameters") or []]
        return [self.python, str(local), *args], env, cwd

    # ---------------------------------------------------------------- for tests and the rehearsal
    def wait_for_run(self, run_id: int, timeout: float = 120.0, jump_retries: bool = True) -> dict[str, Any]:
        """Wait (real time) until the run has ended; with ``jump_retries``, when nothing runs but a retry
        waits, jump the clock to it. Returns the run as runs/get shows it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                run = self.runs[run_id]
                if run["state"]["life_cycle_state"] not in ACTIVE:
                    return self.get_run({"run_id": str(run_id), "include_history": "true"})
                latest = self._latest(run).values()
                waiting = [t["_retry_at"] for t in latest if t["state"]["life_cycle_state"] == "WAITING_FOR_RETRY"]
                busy = any(t["state"]["life_cycle_state"] == "RUNNING" for t in latest)
            if jump_retries and waiting and not busy:
                ahead = (min(waiting) - self.clock.ms()) / 1000
                if ahead > 0:
                    self.clock.advance(ahead + 0.001)
            time.sleep(0.05)
        raise TimeoutError(f"run {run_id} did not end within {timeout:g} s")
