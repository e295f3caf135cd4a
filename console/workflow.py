"""The workflow spec from ``jobs/*.job.yml`` (Databricks Asset Bundle job format) and its DAG."""

from __future__ import annotations

import graphlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from console.errors import ConfigError

RUN_IF = ("ALL_SUCCESS", "ALL_DONE", "NONE_FAILED", "AT_LEAST_ONE_SUCCESS", "ALL_FAILED", "AT_LEAST_ONE_FAILED")
TASKS_PACKAGE = "jobs.tasks"


def short_key(key: str) -> str:
    """The ticket id in a task key (``BI-2482``), or the key itself; also for keys no longer in the spec."""
    for part in key.split("_"):
        if part[:3] in ("BI-", "DI-"):
            return part
    return key


@dataclass(frozen=True)
class TaskSpec:
    key: str
    module: str  # jobs.tasks.<name>
    depends_on: tuple[str, ...]
    run_if: str = "ALL_SUCCESS"
    max_retries: int = 0
    min_retry_interval_millis: int = 0
    timeout_seconds: int = 0
    description: str = ""

    @property
    def short_key(self) -> str:
        """The ticket id in the key (``BI-2482``), for compact labels."""
        return short_key(self.key)


@dataclass(frozen=True)
class WorkflowSpec:
    path: Path
    job_name: str
    tasks: tuple[TaskSpec, ...]
    schedule_cron: str = ""
    schedule_timezone: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def task(self, key: str) -> TaskSpec:
        for task in self.tasks:
            if task.key == key or task.short_key == key:
                return task
        known = ", ".join(t.short_key for t in self.tasks)
        raise ConfigError(f"{self.path}: unknown task '{key}'.", f"Known tasks: {known}.")

    @property
    def keys(self) -> list[str]:
        return [t.key for t in self.tasks]

    def upstream(self, key: str) -> tuple[str, ...]:
        return self.task(key).depends_on

    def downstream(self, key: str) -> list[str]:
        return [t.key for t in self.tasks if key in t.depends_on]

    def descendants(self, keys: list[str] | set[str]) -> set[str]:
        """``keys`` and every task that depends on them, directly or not."""
        found = set(keys)
        frontier = list(keys)
        while frontier:
            for child in self.downstream(frontier.pop()):
                if child not in found:
                    found.add(child)
                    frontier.append(child)
        return found

    def topological_order(self) -> list[str]:
        return _topological(self.path, {t.key: t.depends_on for t in self.tasks})

    def levels(self) -> list[list[str]]:
        """Tasks grouped by depth: every task's dependencies are in earlier levels."""
        depth: dict[str, int] = {}
        for key in self.topological_order():
            deps = self.task(key).depends_on
            depth[key] = 1 + max((depth[d] for d in deps), default=-1)
        levels: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
        for key in self.keys:
            levels[depth[key]].append(key)
        return levels

    def critical_path(self, durations: dict[str, float]) -> tuple[float, list[str]]:
        """The longest chain by ``durations`` (seconds): its length and its tasks in order."""
        best: dict[str, tuple[float, list[str]]] = {}
        for key in self.topological_order():
            before = max((best[d] for d in self.task(key).depends_on), default=(0.0, []), key=lambda x: x[0])
            best[key] = (before[0] + durations.get(key, 0.0), [*before[1], key])
        return max(best.values(), key=lambda x: x[0])


def _topological(path: Path, deps: dict[str, tuple[str, ...]]) -> list[str]:
    """Every task after its dependencies; a cycle is a ``ConfigError`` naming it (dependent -> dependency)."""
    try:
        return list(graphlib.TopologicalSorter(deps).static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(reversed(exc.args[1]))  # graphlib lists it dependency first
        raise ConfigError(f"{path}: the tasks depend on each other in a cycle: {cycle}.",
                          "Remove one of these depends_on entries.") from None


def _job_definition(path: Path, doc: Any) -> tuple[str, dict[str, Any]]:
    jobs = doc.get("resources", {}).get("jobs") if isinstance(doc, dict) else None
    if not isinstance(jobs, dict) or len(jobs) != 1:
        raise ConfigError(f"{path}: expected exactly one job under resources.jobs (Databricks Asset Bundle format).")
    ((name, job),) = jobs.items()
    if not isinstance(job, dict) or not isinstance(job.get("tasks"), list) or not job["tasks"]:
        raise ConfigError(f"{path}: resources.jobs.{name}.tasks: expected a non-empty list of tasks.")
    return str(name), job


def _integer(path: Path, key: str, raw: dict[str, Any], field: str, low: int, expected: str) -> int:
    """A whole number of the task ``key``, as the Jobs API takes it ("one" gave "unexpected ValueError")."""
    value = raw.get(field, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{path}: task '{key}': {field} must be a whole number, {expected} (got {value!r}).")
    return value


def load_workflow(path: Path | str, check_code: bool = True, tasks_package: str = TASKS_PACKAGE) -> WorkflowSpec:
    """Load and validate a job spec: duplicate keys, unknown ``depends_on``, cycles and missing task code."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: workflow file not found.", "Check [workflow] spec in console.toml.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).") from None
    _, job = _job_definition(path, doc)

    tasks: list[TaskSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(job["tasks"]):
        key = raw.get("task_key") if isinstance(raw, dict) else None
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{path}: tasks[{index}]: expected a task_key.")
        if key in seen:
            raise ConfigError(f"{path}: task '{key}' is defined twice.", "Give each task a unique task_key.")
        seen.add(key)
        params = (raw.get("python_wheel_task") or {}).get("named_parameters") or {}
        module_name = params.get("task")
        if not isinstance(module_name, str) or not module_name.isidentifier():
            raise ConfigError(f"{path}: task '{key}': python_wheel_task.named_parameters.task must name a module "
                              f"in {tasks_package.replace('.', '/')}/ (got {module_name!r}).")
        run_if = raw.get("run_if", "ALL_SUCCESS")
        if run_if not in RUN_IF:
            raise ConfigError(f"{path}: task '{key}': run_if must be one of {', '.join(RUN_IF)} (got {run_if!r}).")
        depends = raw.get("depends_on") or []
        try:
            depends_on = tuple(str(d["task_key"]) for d in depends)
        except (TypeError, KeyError):
            raise ConfigError(f"{path}: task '{key}': depends_on must be a list of {{task_key: …}}.") from None
        tasks.append(TaskSpec(
            key=key,
            module=f"{tasks_package}.{module_name}",
            depends_on=depends_on,
            run_if=run_if,
            max_retries=_integer(path, key, raw, "max_retries", -1, "-1 (retry until it succeeds) or more"),
            min_retry_interval_millis=_integer(path, key, raw, "min_retry_interval_millis", 0, "0 or more"),
            timeout_seconds=_integer(path, key, raw, "timeout_seconds", 0, "0 (no limit) or more"),
            description=str(raw.get("description", "")),
        ))

    for task in tasks:
        for dep in task.depends_on:
            if dep not in seen:
                raise ConfigError(f"{path}: task '{task.key}' depends on '{dep}', which is not a task in this file.",
                                  "Fix the task_key in depends_on.")
    _topological(path, {t.key: t.depends_on for t in tasks})

    if check_code:
        for task in tasks:
            if importlib.util.find_spec(task.module) is None:
                raise ConfigError(f"{path}: task '{task.key}': no code at {task.module.replace('.', '/')}.py.",
                                  "Add the module with a run(ctx) function, or fix named_parameters.task.")

    schedule = job.get("schedule") or {}
    return WorkflowSpec(
        path=path,
        job_name=str(job.get("name", "")),
        tasks=tuple(tasks),
        schedule_cron=str(schedule.get("quartz_cron_expression", "")),
        schedule_timezone=str(schedule.get("timezone_id", "")),
        raw=job,
    )
