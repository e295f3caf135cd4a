"""The ETA on synthetic histories: quantiles, the critical path over the real DAG, verdicts, fallbacks, DST."""

from __future__ import annotations

import datetime as dt

import pytest

from console import eta
from console.clock import at_et, last_business_days
from console.model import Run, TaskRun, TaskState
from console.workflow import load_workflow

SPEC = load_workflow("jobs/outbound_lists.job.yml")
DAY = dt.date(2026, 11, 24)  # a Tuesday
TARGET = at_et(DAY, "08:00")
START = at_et(DAY, "06:00")
ROOT, DI749, DI986 = (SPEC.task(k).key for k in ("BI-2482", "DI-749", "DI-986"))

MINUTES = {  # a typical day: the funnel branch (DI-749 → DI-986 → BI-820) is the longest chain
    "BI-2482": 10, "BI-2584": 3, "BI-2609": 6, "BI-737": 12, "BI-813": 5, "DI-862": 4,
    "DI-749": 20, "DI-986": 15, "BI-820": 8, "DI-1049": 4, "DI-977": 5,
}


def history(days: int = 20, minutes: dict[str, float] | None = None, spread: float = 0.0,
            end: dt.date = dt.date(2026, 11, 23)) -> list[dict]:
    """Succeeded runs of every task, duration = minutes × (1 + spread × (i mod 5 − 2) / 2)."""
    minutes = minutes or MINUTES
    rows = []
    for i, day in enumerate(last_business_days(end, days)):
        factor = 1 + spread * ((i % 5) - 2) / 2
        for short, mins in minutes.items():
            rows.append({"business_date": day, "task_key": SPEC.task(short).key, "state": "succeeded",
                         "duration_seconds": mins * 60 * factor})
    return rows


def run_at(now: dt.datetime, finished: dict[str, tuple[str, str]], running: dict[str, str],
           failed: tuple[str, ...] = ()) -> Run:
    """A run that started at 06:00 with tasks finished/running/failed as given (short keys, HH:MM)."""
    tasks = []
    for key in SPEC.keys:
        short = SPEC.task(key).short_key
        if short in finished:
            s, e = finished[short]
            tasks.append(TaskRun(key, TaskState.SUCCEEDED, 1, "TERMINATED", "SUCCESS", at_et(DAY, s), at_et(DAY, e)))
        elif short in running:
            tasks.append(TaskRun(key, TaskState.RUNNING, 1, "RUNNING", None, at_et(DAY, running[short])))
        elif short in failed:
            tasks.append(TaskRun(key, TaskState.FAILED, 1, "TERMINATED", "FAILED", START, START))
        else:
            tasks.append(TaskRun(key, TaskState.PENDING, 0, "PENDING"))
    state = TaskState.FAILED if failed else TaskState.RUNNING
    return Run(7, SPEC.job_name, DAY, state, "RUNNING", None, "SCHEDULE", "scheduler", START, None, tasks=tasks)


def test_quantiles_of_a_known_sample() -> None:
    rows = [{"task_key": ROOT, "state": "succeeded", "duration_seconds": float(s), "business_date": DAY}
            for s in range(1, 101)]
    stats = eta.duration_stats(rows, SPEC, quantile=0.9)[ROOT]
    assert stats.samples == 100 and stats.median == pytest.approx(50.5, abs=0.6)
    assert stats.pessimistic == pytest.approx(90.5, abs=1.0)


def test_failed_runs_are_not_durations_and_weekday_weighting_moves_the_median() -> None:
    rows = [{"task_key": ROOT, "state": "succeeded", "duration_seconds": 600.0, "business_date": d}
            for d in last_business_days(dt.date(2026, 11, 20), 20)]
    for row in rows:
        if row["business_date"].weekday() == 0:  # Mondays are slow
            row["duration_seconds"] = 1800.0
    rows.append({"task_key": ROOT, "state": "failed", "duration_seconds": 5.0, "business_date": DAY})
    plain = eta.duration_stats(rows, SPEC)[ROOT]
    monday = eta.duration_stats(rows, SPEC, weekday=0, weekday_weight=10.0)[ROOT]
    assert plain.samples == 20 and plain.median == 600.0
    assert monday.median == 1800.0


def test_not_started_projects_the_critical_path_from_the_schedule() -> None:
    stats = eta.duration_stats(history(), SPEC)
    result = eta.estimate(SPEC, None, stats, at_et(DAY, "05:59"), TARGET, START)
    # 10 + 20 + 15 + 8 minutes along BI-2482 → DI-749 → DI-986 → BI-820
    assert result.expected_finish == at_et(DAY, "06:53")
    assert [SPEC.task(k).short_key for k in result.critical_path] == ["BI-2482", "DI-749", "DI-986", "BI-820"]
    assert result.verdict == eta.ON_TRACK and result.notes == []


def test_running_on_track_counts_actual_times_of_finished_tasks() -> None:
    stats = eta.duration_stats(history(), SPEC)
    run = run_at(at_et(DAY, "06:20"), {"BI-2482": ("06:00", "06:12")}, {"DI-749": "06:12", "BI-737": "06:12"})
    result = eta.estimate(SPEC, run, stats, at_et(DAY, "06:20"), TARGET, START)
    assert result.expected_finish == at_et(DAY, "06:55")  # 06:12 + 20 + 15 + 8
    assert result.verdict == eta.ON_TRACK
    assert result.projections[ROOT].projected is False


def test_a_slow_di749_puts_the_path_through_di986_at_risk() -> None:
    stats = eta.duration_stats(history(spread=0.5), SPEC, quantile=0.9)
    # At 07:25 DI-749 has run 73 minutes (its median is 20): it ends no earlier than now + a margin.
    run = run_at(at_et(DAY, "07:25"), {"BI-2482": ("06:00", "06:12")}, {"DI-749": "06:12"})
    result = eta.estimate(SPEC, run, stats, at_et(DAY, "07:25"), TARGET, START)
    path = [SPEC.task(k).short_key for k in result.critical_path]
    assert path[:3] == ["BI-2482", "DI-749", "DI-986"]
    assert result.expected_finish is not None and result.pessimistic_finish is not None
    assert result.expected_finish <= TARGET < result.pessimistic_finish
    assert result.verdict == eta.AT_RISK
    assert any("DI-749 is running longer" in n for n in result.notes)


def test_at_0755_with_a_slow_task_the_workflow_will_miss() -> None:
    stats = eta.duration_stats(history(), SPEC)
    run = run_at(at_et(DAY, "07:55"), {"BI-2482": ("06:00", "06:12"), "DI-749": ("06:12", "07:50")},
                 {"DI-986": "07:50"})
    result = eta.estimate(SPEC, run, stats, at_et(DAY, "07:55"), TARGET, START)
    assert result.expected_finish == at_et(DAY, "08:13")  # 07:50 + 15 + 8
    assert result.verdict == eta.WILL_MISS


def test_empty_history_falls_back_and_says_so() -> None:
    result = eta.estimate(SPEC, None, eta.duration_stats([], SPEC, fallback_seconds=300), at_et(DAY, "05:00"),
                          TARGET, START)
    assert len(result.notes) == len(SPEC.keys) and "assumed 5 min" in result.notes[0]
    assert result.expected_finish == START + dt.timedelta(minutes=5 * 4)
    partial = {k: v for k, v in MINUTES.items() if k != "DI-977"}
    stats = eta.duration_stats(history(minutes=partial), SPEC)
    assert stats[SPEC.task("DI-977").key].fallback and not stats[ROOT].fallback


def test_a_failed_task_means_no_eta_but_a_reason() -> None:
    stats = eta.duration_stats(history(), SPEC)
    run = run_at(at_et(DAY, "06:40"), {"BI-2482": ("06:00", "06:12")}, {}, failed=("DI-749",))
    result = eta.estimate(SPEC, run, stats, at_et(DAY, "06:40"), TARGET, START)
    assert result.verdict == eta.FAILED and result.expected_finish is None
    assert "DI-749 failed" in result.notes[0]


def test_a_succeeded_run_is_done_at_its_end() -> None:
    finished = {short: ("06:00", "06:40") for short in MINUTES}
    run = run_at(at_et(DAY, "07:00"), finished, {})
    run.state, run.end = TaskState.SUCCEEDED, at_et(DAY, "06:40")
    result = eta.estimate(SPEC, run, eta.duration_stats(history(), SPEC), at_et(DAY, "07:00"), TARGET, START)
    assert result.verdict == eta.DONE and result.expected_finish == at_et(DAY, "06:40")


@pytest.mark.parametrize("day", [dt.date(2026, 3, 9), dt.date(2026, 11, 2)])  # Mondays after DST changes
def test_durations_across_a_dst_change_are_elapsed_time(day: dt.date) -> None:
    """History from before the change, a run the Monday after: the projection is in wall-clock ET."""
    stats = eta.duration_stats(history(end=day - dt.timedelta(days=3)), SPEC)
    start, target = at_et(day, "06:00"), at_et(day, "08:00")
    result = eta.estimate(SPEC, None, stats, at_et(day, "05:30"), target, start)
    assert result.expected_finish is not None
    assert result.expected_finish - start == dt.timedelta(minutes=53)
    assert result.expected_finish.astimezone(at_et(day, "06:53").tzinfo).strftime("%H:%M") == "06:53"


def test_a_finished_run_says_whether_it_was_on_time() -> None:
    finished = {short: ("06:00", "06:40") for short in MINUTES}
    run = run_at(at_et(DAY, "09:00"), finished, {})
    run.state, run.end = TaskState.SUCCEEDED, at_et(DAY, "06:40")
    stats = eta.duration_stats(history(), SPEC)
    assert eta.estimate(SPEC, run, stats, at_et(DAY, "09:00"), TARGET, START).words == "finished on time"
    run.end = at_et(DAY, "08:20")
    assert eta.estimate(SPEC, run, stats, at_et(DAY, "09:00"), TARGET, START).words == "finished late"
