"""Cluster utilization: the pure checks, the demo's recorded node timeline, and the cluster_usage alert rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from console import alerts
from console.adapters.local_engine import LocalEngine
from console.clock import last_business_days
from console.cluster_facts import read_cluster
from console.demo import record_history_runs
from console.settings import DEFAULT_SETTINGS, load_settings
from console.store import StateStore
from console.utilization import (
    Autoscale,
    NodeMinute,
    RunCost,
    RunUsage,
    Thresholds,
    autoscale_check,
    cost_check,
    memory_check,
    setup_check,
)
from console.workflow import load_workflow
from jobs.demo.anomalies import ANOMALIES

T0 = dt.datetime(2026, 12, 3, 11, 0, tzinfo=dt.UTC)  # 06:00 ET


def _usage(mem: dict[str, list[float]], workers: int = 1) -> RunUsage:
    rows = [NodeMinute(node, T0 + dt.timedelta(minutes=i), node == "driver", node != "driver", 50, 1, value, 1 / 60)
            for node, values in mem.items() for i, value in enumerate(values)]
    return RunUsage(1, tuple(rows), 1.0, 0.15, "demo")


def test_memory_over_the_threshold_for_five_minutes_fails_naming_node_and_minutes() -> None:
    t = Thresholds()
    hot = _usage({"driver": [40] * 10, "worker-3": [60, 91, 92, 95, 93, 91, 70, 60, 60, 60]})
    check = memory_check(hot, t)
    assert check.status == "fail"
    assert check.evidence.startswith("worker-3 above 90 % memory for 5 minutes (06:01–06:06 ET, peak 95 %)")
    assert check.numbers["node"] == "worker-3" and check.numbers["minutes"] == 5
    four = _usage({"worker-3": [60, 91, 92, 95, 93, 60, 91, 92, 60, 60]})
    assert memory_check(four, t).status == "pass"  # two streaks of 4 and 2 minutes: no 5 in a row


def test_autoscaling_pinned_setup_and_cost_against_their_medians() -> None:
    t = Thresholds()
    pinned = _usage({f"worker-{i}": [50] * 10 for i in range(1, 9)})
    assert autoscale_check(pinned, Autoscale(2, 8), t).status == "fail"
    assert autoscale_check(pinned, Autoscale(2, 9), t).status == "pass"
    past = [RunCost(i, dt.date(2026, 11, i), 4.0, 0.6, 70, 270) for i in range(1, 21)]
    assert setup_check(270 * 3.5, past, t).status == "fail"
    assert setup_check(270 * 2.5, past, t).status == "pass"
    costly = RunUsage(99, (), 9.0, 1.35, "demo")
    assert cost_check(costly, past, t).status == "fail" and "(2.3×)" in cost_check(costly, past, t).evidence
    assert setup_check(None, past, t).status == "n/a"  # could not judge: never a pass


@pytest.fixture(scope="module")
def demo_history(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    tmp: Path = tmp_path_factory.mktemp("utilization")
    settings = load_settings(DEFAULT_SETTINGS, secrets={})
    spec = load_workflow(settings.workflow_spec)
    store = StateStore(f"sqlite:///{tmp / 'state.db'}")
    engine = LocalEngine(store, spec)
    adapters = SimpleNamespace(settings=settings, spec=spec, store=store, engine=engine, mode="embedded",
                               is_demo=True)
    days = last_business_days(dt.date(2026, 11, 30), 60)
    record_history_runs(adapters, days, seed_value=settings.demo_seed, anomalies=ANOMALIES)
    placed = {a.kind: days[-1 - a.days_ago] for a in ANOMALIES}
    return SimpleNamespace(adapters=adapters, days=days, placed=placed)


def _conditions(env: SimpleNamespace, day: dt.date) -> list[alerts.Condition]:
    run = env.adapters.engine.run_for_date(day)
    status = SimpleNamespace(run=run, business_date=day)
    return alerts.cluster_usage(alerts.RuleInput(env.adapters, status, None))  # type: ignore[arg-type]


def test_the_demo_records_a_consistent_timeline_per_run(demo_history: SimpleNamespace) -> None:
    env = demo_history
    day = env.days[-2]
    run = env.adapters.engine.run_for_date(day)
    usage = env.adapters.engine.cluster_usage(run)
    assert usage is not None and usage.source == "demo"
    assert usage.minutes[0].minute <= run.tasks[0].start  # the cluster is up before the first task starts
    assert 2 <= len(usage.nodes) - 1 <= 8 + 2  # workers within autoscale (plus replacements)
    assert usage.dbus == pytest.approx(len(usage.minutes) / 60)  # one DBU per node-hour (i3.xlarge)
    costs = env.adapters.engine.cluster_costs(env.days[0], env.days[-1])
    assert len(costs) == len(env.days) and all(c.dbus and c.peak_mem_percent for c in costs)


def test_memory_heavy_day_fails_the_memory_check_and_opens_one_alert(demo_history: SimpleNamespace) -> None:
    env = demo_history
    day = env.placed["memory_heavy"]
    found = _conditions(env, day)
    assert [c.subject for c in found] == ["memory"]
    assert found[0].evidence.startswith("worker-3 above 90 % memory for 9 minutes (06:")
    now = dt.datetime(2026, 12, 1, 15, tzinfo=dt.UTC)
    assert alerts.sync(env.adapters, day, found, now, rules={"cluster_usage"})["opened"] == 1
    assert alerts.sync(env.adapters, day, found, now, rules={"cluster_usage"})["opened"] == 0


def test_the_spot_loss_day_fails_the_setup_check_only(demo_history: SimpleNamespace) -> None:
    env = demo_history
    day = env.placed["late_run"]
    found = _conditions(env, day)
    assert [c.subject for c in found] == ["setup"]
    facts = read_cluster(env.adapters, env.adapters.engine.run_for_date(day), day)
    assert facts.usage is not None and sum(not m.spot and not m.driver for m in facts.usage.minutes) > 0  # fallback


def test_thirty_clean_days_raise_no_cluster_alert(demo_history: SimpleNamespace) -> None:
    env = demo_history
    anomalous = set(env.placed.values())
    clean = [d for d in env.days[-40:] if d not in anomalous][-30:]
    assert len(clean) == 30
    assert {d: _conditions(env, d) for d in clean} == {d: [] for d in clean}
