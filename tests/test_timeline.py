"""Milestone states at frozen times of the day, and the date checks a person's input goes through."""

from __future__ import annotations

import datetime as dt

import pytest

from console.clock import ET, FrozenClock, at_et, business_date, is_business_day, last_business_days
from console.errors import InvalidRequest
from console.model import Run, TaskRun, TaskState
from console.settings import DEFAULT_SETTINGS, load_settings
from console.status import check_date
from console.timeline import DayFacts, milestone_states

DAY = dt.date(2026, 11, 24)  # a Tuesday
SETTINGS = load_settings(DEFAULT_SETTINGS, secrets={})


def _run(state: TaskState, start: str | None, end: str | None, done: int = 11) -> Run:
    tasks = [TaskRun(f"T{i}", TaskState.SUCCEEDED if i < done else TaskState.PENDING) for i in range(11)]
    return Run(1, "job", DAY, state, "TERMINATED" if state.is_terminal else "RUNNING",
               "SUCCESS" if state == TaskState.SUCCEEDED else None, "SCHEDULE", "scheduler",
               at_et(DAY, start) if start else None, at_et(DAY, end) if end else None, tasks=tasks)


def _states(now: str, facts: DayFacts) -> dict[str, str]:
    return {m.key: m.status for m in milestone_states(SETTINGS, DAY, at_et(DAY, now), facts)}


def test_before_six_everything_is_pending() -> None:
    assert set(_states("05:59", DayFacts(None, None, 0, None, 0)).values()) == {"pending"}


def test_a_running_workflow_before_and_after_the_target() -> None:
    facts = DayFacts(_run(TaskState.RUNNING, "06:00", None, done=5), None, 0, None, 0)
    at_0730 = _states("07:30", facts)
    assert at_0730["workflow_start"] == "done" and at_0730["workflow_target"] == "running"
    assert _states("08:01", facts)["workflow_target"] == "late"


def test_a_workflow_that_finished_after_eight_is_late_and_a_failed_one_failed() -> None:
    late = DayFacts(_run(TaskState.SUCCEEDED, "06:52", "08:40"), None, 0, None, 0)
    assert _states("09:10", late)["workflow_target"] == "late"
    failed = DayFacts(_run(TaskState.FAILED, "06:00", "06:40", done=6), None, 0, None, 0)
    states = _states("09:10", failed)
    assert states["workflow_target"] == "failed" and states["ready"] == "failed"


def test_upload_ready_and_export_across_the_day() -> None:
    run = _run(TaskState.SUCCEEDED, "06:00", "06:41")
    facts = DayFacts(run, None, 0, None, 0)
    assert _states("08:45", facts)["genesys_upload"] == "running"
    assert _states("09:01", facts)["genesys_upload"] == "late"
    facts.upload_finished, facts.upload_lists = at_et(DAY, "08:52"), 9
    states = _states("09:01", facts)
    assert states["genesys_upload"] == "done" and states["ready"] == "done"
    assert _states("22:31", facts)["results_export"] == "running"
    assert _states("23:31", facts)["results_export"] == "late"
    facts.export_landed, facts.export_rows = at_et(DAY, "22:58"), 1000
    assert _states("23:31", facts)["results_export"] == "done"


def test_no_run_by_the_target_is_late() -> None:
    assert _states("08:01", DayFacts(None, None, 0, None, 0))["workflow_target"] == "late"


def test_business_calendar() -> None:
    assert not is_business_day(dt.date(2026, 11, 26))  # Thanksgiving
    assert is_business_day(dt.date(2026, 11, 27))  # the day after is a business day
    assert not is_business_day(dt.date(2026, 7, 3))  # Independence Day observed (July 4 is a Saturday)
    assert business_date(dt.datetime(2026, 11, 29, 9, 0, tzinfo=ET)) == dt.date(2026, 11, 27)  # Sunday
    days = last_business_days(dt.date(2026, 11, 30), 3)
    assert days == [dt.date(2026, 11, 25), dt.date(2026, 11, 27), dt.date(2026, 11, 30)]


def test_check_date_explains_each_refusal() -> None:
    clock = FrozenClock(dt.datetime(2026, 11, 27, 10, 0, tzinfo=ET))
    assert check_date(dt.date(2026, 11, 27), clock) == dt.date(2026, 11, 27)
    with pytest.raises(InvalidRequest, match="in the future"):
        check_date(dt.date(2026, 11, 30), clock)
    with pytest.raises(InvalidRequest, match="not a business day"):
        check_date(dt.date(2026, 11, 26), clock)
    with pytest.raises(InvalidRequest, match="before the first day with data"):
        check_date(dt.date(2026, 1, 5), clock, earliest=dt.date(2026, 7, 1))


def test_a_time_on_another_day_than_its_business_date_carries_that_day() -> None:
    """Wednesday's run repaired on Thursday morning finished at "07:00 Thu 26 Nov", not at a bare "07:00" that
    read as before Wednesday's 08:00 target (seen on Home in the rehearsal: "late: done at 07:00 ET")."""
    from console.clock import at_et, hhmm_of

    wednesday = dt.date(2026, 11, 25)
    assert hhmm_of(at_et(wednesday, "07:00"), wednesday) == "07:00"
    assert hhmm_of(at_et(wednesday + dt.timedelta(days=1), "07:00"), wednesday) == "07:00 Thu 26 Nov"
    assert hhmm_of(None, wednesday) == "—"


def test_the_finish_metric_is_green_before_the_target_and_red_after() -> None:
    """Streamlit colours an unsigned delta as a rise: "83 min before 08:00" showed as a red up-arrow on Home."""
    from console.ui.views import delta_color

    assert delta_color("83 min before 08:00") == "green" and delta_color("before target") == "green"
    assert delta_color("12 min after 08:00") == "red" and delta_color("after target") == "red"
    assert delta_color(None) == "off"
