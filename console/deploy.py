"""Deploy the workflow to Databricks from the one spec (``jobs/outbound_lists.job.yml``): create or reset.

The spec is a Databricks Asset Bundle job, the same field names as the Jobs API, so it loads into
``JobSettings`` as is. Deployment adds what the console needs on Databricks: a ``business_date`` job
parameter (so that a run of a past date, started from the console, works on that date), handed to every
wheel task as ``--date``; and the console's wheel as each task's library when ``[databricks] wheel`` is set.
``--dry-run`` prints the difference between that and the deployed job, field by field.
"""

from __future__ import annotations

import copy
import inspect
import json
from typing import TYPE_CHECKING, Any

from console.adapters.databricks import BUSINESS_DATE_PARAM
from console.errors import NotFound
from console.workflow import WorkflowSpec

if TYPE_CHECKING:
    from databricks.sdk.service.jobs import JobSettings

    from console.adapters.databricks import DatabricksEngine
    from console.settings import DatabricksSettings

DATE_REFERENCE = "{{job.parameters." + BUSINESS_DATE_PARAM + "}}"
_LIST_KEYS = ("task_key", "job_cluster_key", "name", "environment_key")


def job_settings(spec: WorkflowSpec, settings: DatabricksSettings) -> JobSettings:
    """The job as it should be on Databricks."""
    from databricks.sdk.service.jobs import JobSettings  # on demand: databricks-sdk is heavy (~1.3 s)

    raw = copy.deepcopy(spec.raw)
    raw["name"] = settings.job_name or raw.get("name", spec.job_name)
    params = raw.setdefault("parameters", [])
    if not any(p.get("name") == BUSINESS_DATE_PARAM for p in params):
        params.append({"name": BUSINESS_DATE_PARAM, "default": ""})
    for task in raw.get("tasks", []):
        wheel = task.get("python_wheel_task")
        if wheel is not None:
            wheel["named_parameters"] = {**(wheel.get("named_parameters") or {}), "date": DATE_REFERENCE}
        if settings.wheel:
            task["libraries"] = [{"whl": settings.wheel}]
    return JobSettings.from_dict(raw)


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    """``{"tasks[task_key=A].max_retries": 1, ...}``: lists of named items are keyed by their name."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(_flatten(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        for index, item in enumerate(value):
            name = next((f"{k}={item[k]}" for k in _LIST_KEYS if k in item), str(index))
            out.update(_flatten(item, f"{path}[{name}]"))
    else:
        out[path] = value
    return out


def difference(deployed: dict[str, Any] | None, wanted: dict[str, Any]) -> list[str]:
    """Lines ``+ path: value``, ``- path: value``, ``~ path: old -> new``; fields the server adds on its own
    (top-level keys the spec does not use, such as ``format`` or ``run_as``) are left out."""
    new = _flatten(wanted)
    if deployed is None:
        return [f"+ {path}: {json.dumps(value)}" for path, value in sorted(new.items())]
    old = {p: v for p, v in _flatten(deployed).items() if p.split(".")[0].split("[")[0] in wanted}
    lines = []
    for path in sorted(set(old) | set(new)):
        if path not in old:
            lines.append(f"+ {path}: {json.dumps(new[path])}")
        elif path not in new:
            lines.append(f"- {path}: {json.dumps(old[path])}")
        elif old[path] != new[path]:
            lines.append(f"~ {path}: {json.dumps(old[path])} -> {json.dumps(new[path])}")
    return lines


def deploy_job(engine: DatabricksEngine, spec: WorkflowSpec, settings: DatabricksSettings,
               dry_run: bool = False) -> tuple[str, list[str]]:
    """Create or reset the job; returns what was (or would be) done and the difference."""
    wanted = job_settings(spec, settings)
    w = engine.workspace()
    try:
        job_id: int | None = engine.job_id()
    except NotFound:
        job_id = None
    deployed = None
    if job_id is not None:
        job = engine._call(f"reading job {job_id}", lambda c: c.jobs.get(job_id), purpose="action")
        deployed = job.settings.as_dict() if job.settings else {}
    lines = difference(deployed, wanted.as_dict())
    if job_id is None:
        if dry_run:
            return f"would create job '{wanted.name}' ({len(wanted.tasks or [])} tasks)", lines
        fields = set(inspect.signature(w.jobs.create).parameters)
        created = engine._call("creating the job", lambda c: c.jobs.create(
            **{f: getattr(wanted, f) for f in fields if getattr(wanted, f, None) is not None}), purpose="action")
        return f"created job {created.job_id} '{wanted.name}'", lines
    if not lines:
        return f"job {job_id} '{wanted.name}' already matches the spec", lines
    if dry_run:
        return f"would reset job {job_id} '{wanted.name}' ({len(lines)} difference(s))", lines
    engine._call(f"resetting job {job_id}", lambda c: c.jobs.reset(job_id, new_settings=wanted), purpose="action")
    return f"reset job {job_id} '{wanted.name}' ({len(lines)} difference(s))", lines
