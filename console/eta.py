"""When will today's workflow finish? A projection over the DAG from each task's historical duration.

Every task that has not finished is projected forward from ``now``: a pending task starts when its last
upstream task finishes (or now, whichever is later) and lasts its historical duration; a running task lasts
at least its historical duration from its start, and never ends before now. The workflow finishes when its
last task does, and the chain of tasks that decides that end is the critical path. Two projections are
made, one from the median duration and one from a pessimistic quantile (p90 by default), and compared
with the 08:00 target:

- on track: even the pessimistic projection finishes by the target;
- at risk: the median projection finishes by the target, the pessimistic one after it;
- will miss: the median projection finishes after the target.

Durations are measured in elapsed seconds (UTC), so days that change clocks (DST) neither shorten nor
lengthen them. A task with no history falls back to a configured duration and the projection says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from console.model import Run, TaskState
from console.workflow import WorkflowSpec

ON_TRACK, AT_RISK, WILL_MISS, DONE, FAILED = "on_track", "at_risk", "will_miss", "done", "failed"
VERDICT_WORDS = {ON_TRACK: "on track", AT_RISK: "at risk", WILL_MISS: "will miss the target", DONE: "finished",
                 FAILED: "failed"}
FINISHED = {TaskState.SUCCEEDED, TaskState.SKIPPED}
BROKEN = {TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.CANCELED}


@dataclass(frozen=True)
class TaskStats:
    """A task's historical duration in seconds: the median and the pessimistic quantile."""

    task_key: str
    samples: int
    median: float
    pessimistic: float
    fallback: bool = False  # no history: the durations are the configured fallback


@dataclass(frozen=True)
class Projection:
    task_key: str
    start: dt.datetime
    end: dt.datetime
    projected: bool  # False: the task has finished and these are its actual times


@dataclass
class Eta:
    verdict: str  # on_track | at_risk | will_miss | done | failed
    target: dt.datetime
    expected_finish: dt.datetime | None  # median projection (actual end when done)
    pessimistic_finish: dt.datetime | None
    critical_path: list[str] = field(default_factory=list)  # task keys, first to last
    projections: dict[str, Projection] = field(default_factory=dict)  # median projection per task
    notes: list[str] = field(default_factory=list)
    samples: int = 0  # runs of history behind the figures (the fewest of any task)

    @property
    def words(self) -> str:
        if self.verdict == DONE and self.expected_finish is not None:
            return "finished late" if self.expected_finish > self.target else "finished on time"
        return VERDICT_WORDS[self.verdict]


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    cumulative = np.cumsum(weights) - 0.5 * weights
    return float(np.interp(q * weights.sum(), cumulative, values))


def duration_stats(history: Iterable[Mapping[str, Any]], spec: WorkflowSpec, *, quantile: float = 0.9,
                   weekday: int | None = None, weekday_weight: float = 1.0,
                   fallback_seconds: float = 600.0) -> dict[str, TaskStats]:
    """Per task of ``spec``: median and ``quantile`` of the durations of its succeeded runs in ``history``.

    ``history`` rows are what ``engine.task_history`` returns (task_key, state, duration_seconds,
    business_date). With ``weekday`` set, runs on that weekday count ``weekday_weight`` times.
    """
    samples: dict[str, list[tuple[float, float]]] = {key: [] for key in spec.keys}
    for row in history:
        seconds = row.get("duration_seconds")
        if row.get("state") != TaskState.SUCCEEDED.value or seconds is None or row["task_key"] not in samples:
            continue
        day = row.get("business_date")
        weight = weekday_weight if weekday is not None and day is not None and day.weekday() == weekday else 1.0
        samples[row["task_key"]].append((float(seconds), weight))
    out = {}
    for key, rows in samples.items():
        if not rows:
            out[key] = TaskStats(key, 0, fallback_seconds, fallback_seconds * 1.5, fallback=True)
            continue
        values = np.array([v for v, _ in rows])
        weights = np.array([w for _, w in rows])
        median = _weighted_quantile(values, weights, 0.5)
        out[key] = TaskStats(key, len(rows), median, max(median, _weighted_quantile(values, weights, quantile)))
    return out


def _project(spec: WorkflowSpec, run: Run | None, stats: Mapping[str, TaskStats], now: dt.datetime,
             start_at: dt.datetime, pessimistic: bool) -> tuple[dict[str, Projection], dict[str, str | None]]:
    """Start and end of every task, and for each the upstream task that decided its start (None: now/start)."""
    out: dict[str, Projection] = {}
    decided_by: dict[str, str | None] = {}
    for key in spec.topological_order():
        task = run.task(key) if run else None
        seconds = stats[key].pessimistic if pessimistic else stats[key].median
        duration = dt.timedelta(seconds=seconds)
        upstream = [out[u] for u in spec.upstream(key)]
        if task is not None and task.state in FINISHED and task.start and task.end:
            out[key] = Projection(key, task.start, task.end, projected=False)
            decided_by[key] = max(upstream, key=lambda p: p.end).task_key if upstream else None
            continue
        if task is not None and task.state == TaskState.RUNNING and task.start:
            begin = task.start
            end = max(begin + duration, now + dt.timedelta(seconds=min(60.0, seconds * 0.1)))
            decided_by[key] = max(upstream, key=lambda p: p.end).task_key if upstream else None
        else:
            ready = max([p.end for p in upstream], default=start_at)
            begin = max(ready, now, start_at)
            latest = max(upstream, key=lambda p: p.end) if upstream else None
            decided_by[key] = latest.task_key if latest is not None and latest.end >= max(now, start_at) else None
            end = begin + duration
        out[key] = Projection(key, begin, end, projected=True)
    return out, decided_by


def _path_to(last: str, decided_by: Mapping[str, str | None]) -> list[str]:
    path = [last]
    while decided_by.get(path[-1]):
        path.append(str(decided_by[path[-1]]))
    return list(reversed(path))


def estimate(spec: WorkflowSpec, run: Run | None, stats: Mapping[str, TaskStats], now: dt.datetime,
             target: dt.datetime, scheduled_start: dt.datetime) -> Eta:
    """The workflow's expected finish at ``now`` and its verdict against ``target``.

    ``run`` is the business date's latest run (None: not started, projected from ``scheduled_start``).
    """
    notes = [f"No successful run of {spec.task(k).short_key} in the history window: assumed "
             f"{stats[k].median / 60:.0f} min (pessimistic {stats[k].pessimistic / 60:.0f} min)."
             for k in spec.keys if stats[k].fallback]
    samples = min((s.samples for s in stats.values()), default=0)
    if run is not None and run.state == TaskState.SUCCEEDED:
        projections = {t.task_key: Projection(t.task_key, t.start, t.end, projected=False)
                       for t in run.tasks if t.start and t.end}
        final = max(projections.values(), key=lambda p: p.end).task_key if projections else None
        return Eta(DONE, target, run.end, run.end, [final] if final else [], projections, [], samples)
    broken = [t for t in (run.tasks if run else []) if t.state in BROKEN]
    if run is not None and (broken or run.state.is_terminal):
        names = ", ".join(spec.task(t.task_key).short_key if t.task_key in spec.keys else t.task_key
                          for t in broken if t.state == TaskState.FAILED) or run.state.label
        return Eta(FAILED, target, None, None, [], {}, [f"The run cannot finish by itself: {names} failed; "
                                                         "a rerun is needed."], samples)
    start_at = run.start if run is not None and run.start else scheduled_start
    median_plan, decided_by = _project(spec, run, stats, now, start_at, pessimistic=False)
    pessimistic_plan, _ = _project(spec, run, stats, now, start_at, pessimistic=True)
    last = max(median_plan.values(), key=lambda p: p.end)
    expected = last.end
    worst = max(p.end for p in pessimistic_plan.values())
    verdict = ON_TRACK if worst <= target else AT_RISK if expected <= target else WILL_MISS
    overrun = [k for k in spec.keys if run and (t := run.task(k)) and t.state == TaskState.RUNNING and t.start
               and (now - t.start).total_seconds() > stats[k].pessimistic]
    notes += [f"{spec.task(k).short_key} is running longer than its p90 duration "
              f"({stats[k].pessimistic / 60:.0f} min)." for k in overrun]
    return Eta(verdict, target, expected, worst, _path_to(last.task_key, decided_by), median_plan, notes, samples)
