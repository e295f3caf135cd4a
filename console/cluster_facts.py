"""The reads behind the cluster utilization panel and its alert rule: the run's timeline, the costs of its history.

The judging is ``console.utilization``; this module only gathers its facts from the engine (the demo's records
or Databricks' system tables) and joins each past run's cost to its setup time from the run history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from console.clock import last_business_days
from console.errors import EngineUnavailable, InvalidRequest
from console.model import Run
from console.utilization import Autoscale, Judged, RunCost, RunUsage, Thresholds, judge, spec_autoscale

HISTORY_DAYS = 30  # business days of runs behind the medians (the Workflow page's history: one shared read)


def run_setup_seconds(run: Run) -> float | None:
    """The longest setup of the run's tasks: the job cluster's start (every task waits for it)."""
    setups = [t.setup_seconds for t in run.tasks if t.setup_seconds is not None]
    return max(setups) if setups else None


def with_setup(costs: Sequence[RunCost], runs: Sequence[Run]) -> list[RunCost]:
    """Each run's cost with its setup time from the run history (a run without a cost record keeps its setup)."""
    by_id = {r.run_id: r for r in runs}
    out = [replace(c, setup_seconds=run_setup_seconds(by_id[c.run_id])) if c.run_id in by_id else c for c in costs]
    known = {c.run_id for c in costs}
    out += [RunCost(r.run_id, r.business_date, None, None, None, run_setup_seconds(r)) for r in runs
            if r.run_id not in known]
    return out


@dataclass(frozen=True)
class ClusterFacts:
    usage: RunUsage | None
    history: list[RunCost]
    setup_seconds: float | None
    scale: Autoscale
    thresholds: Thresholds

    def judged(self, day: dt.date) -> Judged | None:
        if self.usage is None:
            return None
        return judge(self.usage, self.setup_seconds, self.history, day, self.scale, self.thresholds)


def read_cluster(adapters: Any, run: Run, day: dt.date) -> ClusterFacts:
    """The run's usage and the costs of the runs before it. Raises ``EngineUnavailable`` / ``InvalidRequest``."""
    engine = adapters.engine
    days = last_business_days(day, HISTORY_DAYS)
    usage = engine.cluster_usage(run)
    history = with_setup(engine.cluster_costs(days[0], days[-1]), engine.list_runs(days[0], days[-1]))
    return facts(adapters, run, usage, history)


def facts(adapters: Any, run: Run, usage: RunUsage | None, history: list[RunCost]) -> ClusterFacts:
    """Facts from reads already made (the page's cached ones): the run's own cost record fills in its figures."""
    own = next((h for h in history if h.run_id == run.run_id), None)
    if usage is not None and usage.dbus is None and own is not None:
        usage = replace(usage, dbus=own.dbus, cost=own.cost)
    return ClusterFacts(usage, history, run_setup_seconds(run), spec_autoscale(adapters.spec.raw),
                        Thresholds.from_settings(adapters.settings.cluster))


_JUDGED: dict[tuple[str, int, Any], Judged | None] = {}


def judged_for_alerts(adapters: Any, run: Run, day: dt.date) -> Judged | None:
    """The checks of a finished run for the alert rule, read once per run (and repair) per process: the worker
    evaluates every few minutes, the records of a finished run do not change. None: nothing to judge (no
    cluster record, or utilization not set up: the Workflow page says what to enable)."""
    key = (str(adapters.settings.data_dir), run.run_id, run.end)
    if key not in _JUDGED:
        try:
            _JUDGED[key] = read_cluster(adapters, run, day).judged(day)
        except InvalidRequest:
            _JUDGED[key] = None
        except EngineUnavailable:
            raise  # the rule's alerts stay as they are until a read succeeds
    return _JUDGED[key]
