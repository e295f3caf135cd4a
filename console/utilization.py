"""How hard the job cluster worked for a run, and the checks on it: memory, autoscaling, setup time, cost.

The facts are Databricks' own records (``system.compute.node_timeline`` per node per minute,
``system.billing.usage`` joined to ``system.billing.list_prices``), read by the engine adapter, or in the
embedded demo the synthetic timeline it recorded for each run (``console/demo_cluster.py``). Everything here
is a pure function of those facts and the ``[cluster]`` thresholds, so a test builds facts and reads words.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from console.clock import ET
from console.model import CheckResult

DEMO_DBU_PRICE = 0.15  # USD per DBU, the embedded demo's list price (production joins system.billing.list_prices)


@dataclass(frozen=True)
class NodeMinute:
    """One node's minute, as a row of ``system.compute.node_timeline``."""

    node: str  # the instance id (the demo: driver, worker-1 …)
    minute: dt.datetime  # UTC, the minute's start
    driver: bool
    spot: bool
    cpu_percent: float  # user + system
    cpu_wait_percent: float
    mem_percent: float
    dbus: float = 0.0


@dataclass(frozen=True)
class RunUsage:
    """The job cluster's timeline and cost of one run."""

    run_id: int
    minutes: tuple[NodeMinute, ...]
    dbus: float | None
    cost: float | None  # list price, in ``currency``
    source: str  # "demo" | "system tables"
    read_at: dt.datetime | None = None  # when the figures were read (their age on the page)
    newest: dt.datetime | None = None  # the newest minute the records hold (system tables lag)
    currency: str = "USD"

    @property
    def nodes(self) -> list[str]:
        """Driver first, then workers in the order they joined."""
        first: dict[str, tuple[bool, dt.datetime]] = {}
        for m in self.minutes:
            if m.node not in first or m.minute < first[m.node][1]:
                first[m.node] = (m.driver, m.minute)
        return sorted(first, key=lambda n: (not first[n][0], first[n][1], n))

    @property
    def peak_mem_percent(self) -> float | None:
        return max((m.mem_percent for m in self.minutes), default=None)


@dataclass(frozen=True)
class RunCost:
    """One run's DBUs, cost and peak memory: a point of the trend and of the medians."""

    run_id: int
    business_date: dt.date
    dbus: float | None
    cost: float | None
    peak_mem_percent: float | None
    setup_seconds: float | None = None


@dataclass(frozen=True)
class Thresholds:
    memory_percent: float = 90.0
    memory_minutes: int = 5
    pinned_share: float = 0.5
    setup_factor: float = 3.0
    cost_factor: float = 2.0
    history_runs: int = 20

    @classmethod
    def from_settings(cls, values: dict[str, float]) -> Thresholds:
        d = cls()
        return cls(memory_percent=float(values.get("memory_percent", d.memory_percent)),
                   memory_minutes=int(values.get("memory_minutes", d.memory_minutes)),
                   pinned_share=float(values.get("pinned_share", d.pinned_share)),
                   setup_factor=float(values.get("setup_factor", d.setup_factor)),
                   cost_factor=float(values.get("cost_factor", d.cost_factor)),
                   history_runs=int(values.get("history_runs", d.history_runs)))


@dataclass(frozen=True)
class Autoscale:
    min_workers: int
    max_workers: int


def spec_autoscale(raw_job: dict[str, object]) -> Autoscale:
    """The job cluster's autoscale range from the job spec (``job_clusters[0].new_cluster.autoscale``)."""
    clusters = raw_job.get("job_clusters") or []
    new = (clusters[0].get("new_cluster") or {}) if isinstance(clusters, list) and clusters else {}
    scale = new.get("autoscale") or {}
    fixed = int(new.get("num_workers", 0) or 0)
    return Autoscale(int(scale.get("min_workers", fixed)), int(scale.get("max_workers", fixed)))


@dataclass
class Judged:
    """The checks of one run, in the order the page lists them."""

    checks: list[CheckResult] = field(default_factory=list)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]


def workers_by_minute(usage: RunUsage) -> list[tuple[dt.datetime, int]]:
    """How many workers (not the driver) reported each minute of the run."""
    counts: dict[dt.datetime, int] = {}
    for m in usage.minutes:
        counts.setdefault(m.minute, 0)
        if not m.driver:
            counts[m.minute] += 1
    return sorted(counts.items())


def spot_split(usage: RunUsage) -> tuple[int, int]:
    """(spot, on-demand) nodes of the run."""
    kinds = {m.node: m.spot for m in usage.minutes}
    return sum(kinds.values()), sum(not s for s in kinds.values())


def _hhmm(moment: dt.datetime) -> str:
    return moment.astimezone(ET).strftime("%H:%M")


def memory_check(usage: RunUsage, t: Thresholds) -> CheckResult:
    """Fails when a node's memory stayed above the threshold for ``memory_minutes`` minutes in a row."""
    title = f"Memory under {t.memory_percent:g} % on every node"
    if not usage.minutes:
        return CheckResult("cluster_memory", title, "n/a", "No node timeline for this run.")
    worst: dict[str, tuple[int, dt.datetime, dt.datetime, float]] = {}
    by_node: dict[str, list[NodeMinute]] = {}
    for m in usage.minutes:
        by_node.setdefault(m.node, []).append(m)
    for node, rows in by_node.items():
        rows.sort(key=lambda m: m.minute)
        streak: list[NodeMinute] = []
        for m in rows:
            consecutive = streak and m.minute - streak[-1].minute <= dt.timedelta(minutes=1)
            if m.mem_percent > t.memory_percent:
                streak = [*streak, m] if consecutive else [m]
                peak = max(s.mem_percent for s in streak)
                if len(streak) > worst.get(node, (0,))[0]:
                    worst[node] = (len(streak), streak[0].minute, streak[-1].minute, peak)
            else:
                streak = []
    over = {n: w for n, w in worst.items() if w[0] >= t.memory_minutes}
    peak = usage.peak_mem_percent or 0.0
    if not over:
        return CheckResult("cluster_memory", title, "pass",
                           f"Peak memory {peak:.0f} %; no node above {t.memory_percent:g} % for "
                           f"{t.memory_minutes} minutes.", {"peak_percent": round(peak, 1)})
    node, (length, first, last, top) = max(over.items(), key=lambda kv: kv[1][0])
    others = f" ({len(over) - 1} other node(s) too)" if len(over) > 1 else ""
    return CheckResult("cluster_memory", title, "fail",
                       f"{node} above {t.memory_percent:g} % memory for {length} minutes "
                       f"({_hhmm(first)}–{_hhmm(last + dt.timedelta(minutes=1))} ET, peak {top:.0f} %){others}.",
                       {"node": node, "minutes": length, "peak_percent": round(top, 1), "nodes": sorted(over)})


def autoscale_check(usage: RunUsage, scale: Autoscale, t: Thresholds) -> CheckResult:
    """Fails when the workers sat at the autoscale maximum for more than ``pinned_share`` of the run."""
    title = f"Autoscaling below its maximum ({scale.max_workers} workers) for most of the run"
    counts = workers_by_minute(usage)
    if not counts:
        return CheckResult("cluster_autoscale", title, "n/a", "No node timeline for this run.")
    at_max = sum(1 for _, n in counts if n >= scale.max_workers)
    share = at_max / len(counts)
    words = (f"At {scale.max_workers} workers (the max) for {at_max} of {len(counts)} minutes ({share:.0%}); "
             f"autoscale {scale.min_workers}–{scale.max_workers}.")
    if share > t.pinned_share:
        return CheckResult("cluster_autoscale", title, "fail",
                           words + " Consider a larger max_workers or node type.",
                           {"minutes_at_max": at_max, "minutes": len(counts), "share": round(share, 3)})
    return CheckResult("cluster_autoscale", title, "pass", words,
                       {"minutes_at_max": at_max, "minutes": len(counts), "share": round(share, 3)})


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def history_before(history: Sequence[RunCost], run_id: int, day: dt.date, count: int) -> list[RunCost]:
    """The last ``count`` runs before ``day`` (the run itself left out), newest first."""
    earlier = [h for h in history if h.run_id != run_id and h.business_date < day]
    return sorted(earlier, key=lambda h: (h.business_date, h.run_id), reverse=True)[:count]


def setup_check(setup_seconds: float | None, past: Sequence[RunCost], t: Thresholds) -> CheckResult:
    """Fails when the cluster's setup took more than ``setup_factor`` × its median ("cluster startup delays")."""
    title = f"Cluster setup within {t.setup_factor:g}× its median"
    median = _median(h.setup_seconds for h in past)
    if setup_seconds is None or median is None or median <= 0:
        return CheckResult("cluster_setup", title, "n/a", "No setup time for this run or its history.")
    ratio = setup_seconds / median
    words = (f"Setup {setup_seconds / 60:.1f} min against a median of {median / 60:.1f} min over "
             f"{sum(h.setup_seconds is not None for h in past)} runs ({ratio:.1f}×).")
    if ratio > t.setup_factor:
        return CheckResult("cluster_setup", title, "fail", words + " Check AWS spot pricing and capacity.",
                           {"setup_seconds": setup_seconds, "median_seconds": median, "ratio": round(ratio, 2)})
    return CheckResult("cluster_setup", title, "pass", words,
                       {"setup_seconds": setup_seconds, "median_seconds": median, "ratio": round(ratio, 2)})


def cost_check(usage: RunUsage, past: Sequence[RunCost], t: Thresholds) -> CheckResult:
    """Fails when the run's estimated cost is over ``cost_factor`` × the median of its last runs."""
    title = f"Run cost within {t.cost_factor:g}× its median"
    median = _median(h.cost for h in past)
    if usage.cost is None or median is None or median <= 0:
        return CheckResult("cluster_cost", title, "n/a", "No cost for this run or its history.")
    ratio = usage.cost / median
    words = (f"{usage.dbus or 0:.1f} DBU, about {usage.cost:.2f} {usage.currency} against a median of "
             f"{median:.2f} over {sum(h.cost is not None for h in past)} runs ({ratio:.1f}×).")
    status = "fail" if ratio > t.cost_factor else "pass"
    return CheckResult("cluster_cost", title, status, words,
                       {"cost": round(usage.cost, 4), "median": round(median, 4), "ratio": round(ratio, 2)})


def judge(usage: RunUsage, setup_seconds: float | None, history: Sequence[RunCost], day: dt.date,
          scale: Autoscale, t: Thresholds) -> Judged:
    """Every check of one run (memory, autoscaling, setup, cost) against its last ``history_runs`` runs."""
    past = history_before(history, usage.run_id, day, t.history_runs)
    return Judged([memory_check(usage, t), autoscale_check(usage, scale, t), setup_check(setup_seconds, past, t),
                   cost_check(usage, past, t)])
