"""Home and Timeline at frozen moments of the day, on a real stack: what they say at 05:59, 06:20, 07:55
with a slow task, 08:05, 22:31 with the export missing, on both DST Sundays and the Mondays after them,
and with the workflow engine unreachable.

The stack: an embedded warehouse in this process seeded (2,000 accounts) for the evening day only, a state
DB with 200 business days of history runs (the ETA's durations) and, for each scenario day, a run recorded
with the task states and times the scenario needs. The clock is frozen through the session state key the
page frame reads (``console_clock``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console import demo
from console.adapters.protocols import Adapters
from console.clock import ET, FrozenClock, at_et, last_business_days
from console.store import runs, task_runs
from console.ui.frame import CLOCK_KEY
from tests.test_pages import embedded_stack

ROOT = Path(__file__).resolve().parent.parent
EARLY = dt.date(2026, 11, 23)  # Monday: no run yet at 05:59
MORNING = dt.date(2026, 11, 24)  # Tuesday: a run on track at 06:20
SLOW = dt.date(2026, 11, 25)  # Wednesday: DI-749 slow; 07:55 at risk, 08:05 late
EVENING = dt.date(2026, 11, 20)  # Friday: workflow and upload done, results not landed
SPRING_MONDAY, FALL_MONDAY = dt.date(2026, 3, 9), dt.date(2026, 11, 2)  # the business days after DST changes
SCENARIO_DAYS = {EARLY, MORNING, SLOW, EVENING, SPRING_MONDAY, FALL_MONDAY}


@dataclass
class Stack:
    adapters: Adapters
    env: dict[str, str]


def record_run(adapters: Adapters, day: dt.date, tasks: dict[str, tuple[str, str, str | None]],
               run_result: str | None, start: str = "06:00") -> int:
    """A run of ``day``: ``tasks`` maps short keys to (result or "RUNNING", start HH:MM, end HH:MM or None)."""
    spec = adapters.spec
    ends = [at_et(day, e) for _, _, e in tasks.values() if e]
    with adapters.store.begin() as conn:
        run_id = conn.execute(runs.insert().values(
            job_name=spec.job_name, business_date=day, trigger="SCHEDULE", requested_by="scheduler",
            idempotency_key=f"{spec.job_name}:{day}", life_cycle_state="TERMINATED" if run_result else "RUNNING",
            result_state=run_result, state_message="", created_at=at_et(day, start), start_time=at_et(day, start),
            end_time=max(ends) if run_result and ends else None, source="engine")).inserted_primary_key[0]
        for short, (result, begin, end) in tasks.items():
            running = result == "RUNNING"
            conn.execute(task_runs.insert().values(
                run_id=run_id, task_key=spec.task(short).key, attempt=0,
                life_cycle_state="RUNNING" if running else "TERMINATED", result_state=None if running else result,
                start_time=at_et(day, begin), end_time=at_et(day, end) if end else None,
                error_message="FileNotFoundError: the drop is late" if result == "FAILED" else None))
    return int(run_id)


ALL_DONE = {short: ("SUCCESS", "06:00", "06:50") for short in (
    "BI-2482", "BI-2584", "BI-2609", "BI-737", "BI-813", "DI-862", "DI-749", "DI-986", "BI-820", "DI-1049", "DI-977")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from jobs.demo import seed

    with embedded_stack(tmp_path_factory.mktemp("status-pages")) as (adapters, env):
        settings = adapters.settings
        history = [d for d in last_business_days(dt.date(2026, 11, 19), 200) if d not in SCENARIO_DAYS]
        demo.record_history_runs(adapters, history, seed_value=1, anomalies=())
        with adapters.warehouse.session() as session:
            seed.build_warehouse(session, dataclasses.replace(settings, demo_accounts=2000), adapters.spec, [EVENING])
            session.sql(f"DELETE FROM {settings.tables.campaign_results} "
                        f"WHERE BUSINESS_DATE = '{EVENING}'").collect()
        record_run(adapters, MORNING, {"BI-2482": ("SUCCESS", "06:00", "06:15"),
                                       "DI-749": ("RUNNING", "06:15", None),
                                       "BI-737": ("RUNNING", "06:15", None)}, None)
        record_run(adapters, SLOW, {"BI-2482": ("SUCCESS", "06:00", "06:15"),
                                    "DI-749": ("RUNNING", "06:15", None),
                                    **{k: ("SUCCESS", "06:15", "06:40") for k in
                                       ("BI-2584", "BI-2609", "BI-737", "BI-813", "DI-862")}}, None)
        record_run(adapters, EVENING, ALL_DONE, "SUCCESS")
        for monday in (SPRING_MONDAY, FALL_MONDAY):
            record_run(adapters, monday, {"BI-2482": ("SUCCESS", "06:00", "06:15"),
                                          "DI-749": ("RUNNING", "06:15", None)}, None)
        yield Stack(adapters, env)


@pytest.fixture(autouse=True)
def fresh_caches(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CONSOLE_SETTINGS", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def at_moment(page: str, moment: dt.datetime) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=30)
    at.session_state[CLOCK_KEY] = FrozenClock(moment)
    return at.run()


def verdict(at: AppTest) -> str:
    """The overall callout: the first success/warning/error element that starts with a bold verdict."""
    for kind in ("success", "warning", "error"):
        for element in getattr(at, kind):
            if str(element.value).startswith("**"):
                return str(element.value)
    raise AssertionError("no overall verdict on the page")


def milestones(at: AppTest) -> dict[str, str]:
    table = next(d.value for d in at.dataframe if "Milestone" in d.value.columns)
    return dict(zip(table["Milestone"], table["Status"], strict=True))


def metrics(at: AppTest) -> dict[str, Any]:
    return {m.label: m.value for m in at.metric}


def test_0559_nothing_has_started(stack: Stack) -> None:
    home = at_moment("Home.py", at_et(EARLY, "05:59"))
    assert not home.exception
    assert verdict(home).startswith("**On track** · Expected to finish at")
    assert metrics(home)["Tasks done"] == "0 of 11" and metrics(home)["Now (EST)"] == "05:59"
    timeline = at_moment("pages/1_Timeline.py", at_et(EARLY, "05:59"))
    assert set(milestones(timeline).values()) == {"pending"}
    gantt = timeline.get("plotly_chart")[0].proto.spec  # only the projection, from 06:00
    assert "projected" in gantt and "succeeded" not in gantt
    assert "Not started: BI-2482" in " ".join(str(c.value) for c in timeline.caption)


def test_0620_running_and_on_track(stack: Stack) -> None:
    home = at_moment("Home.py", at_et(MORNING, "06:20"))
    assert not home.exception
    text = verdict(home)
    assert text.startswith("**On track** · Expected to finish at 0") and "before the 08:00 target" in text
    assert metrics(home)["Tasks done"] == "1 of 11"
    timeline = at_moment("pages/1_Timeline.py", at_et(MORNING, "06:20"))
    states = milestones(timeline)
    assert states["List generation starts"] == "done" and states["Workflow finished (target)"] == "running"
    assert metrics(timeline)["Against the target"] == "on track"
    gantt = timeline.get("plotly_chart")[0].proto.spec
    assert "projected" in gantt and "now 06:20" in gantt and "target 08:00" in gantt


def test_0755_a_slow_task_puts_the_target_at_risk(stack: Stack) -> None:
    home = at_moment("Home.py", at_et(SLOW, "07:55"))
    assert not home.exception
    text = verdict(home)
    assert text.startswith("**At risk** · Workflow finished (target) (due 08:00 ET)")
    finish = metrics(home)["Workflow finish"]
    assert finish.startswith("~08:") and finish > "~08:00"  # the ETA is after the target
    timeline = at_moment("pages/1_Timeline.py", at_et(SLOW, "07:55"))
    assert milestones(timeline)["Workflow finished (target)"] == "at risk"
    assert metrics(timeline)["Against the target"] == "will miss the target"
    shown = " ".join(str(c.value) for c in timeline.caption)
    assert "DI-749 is running longer than its p90 duration" in shown
    assert "DI-749 → DI-986" in " ".join(str(m.value) for m in timeline.markdown)


def test_0805_the_workflow_is_late(stack: Stack) -> None:
    home = at_moment("Home.py", at_et(SLOW, "08:05"))
    assert not home.exception
    assert verdict(home).startswith("**Late** · Workflow finished (target) (due 08:00 ET) is late")
    assert "Expected to finish at 08:" in verdict(home)
    timeline = at_moment("pages/1_Timeline.py", at_et(SLOW, "08:05"))
    assert milestones(timeline)["Workflow finished (target)"] == "late"


def test_2231_the_export_has_not_landed(stack: Stack) -> None:
    home = at_moment("Home.py", at_et(EVENING, "22:31"))
    assert not home.exception
    text = verdict(home)
    assert text.startswith("**On track** · Campaign results exported in progress, due 22:30 ET")
    timeline = at_moment("pages/1_Timeline.py", at_et(EVENING, "22:31"))
    states = milestones(timeline)
    assert states["Lists uploaded to Genesys"] == "done" and states["Campaign results exported"] == "running"
    # An hour past the export with still nothing: late, and said so on Home.
    late = at_moment("Home.py", at_et(EVENING, "23:35"))
    assert verdict(late).startswith("**Late** · Campaign results exported (due 22:30 ET) is late")
    assert "No campaign results have landed" in verdict(late)


@pytest.mark.parametrize("moment, zone, shown_date", [
    (dt.datetime(2026, 3, 8, 3, 30, tzinfo=ET), "EDT", dt.date(2026, 3, 6)),  # 02:00-02:59 does not exist
    (dt.datetime(2026, 11, 1, 1, 30, tzinfo=ET), "EDT", dt.date(2026, 10, 30)),  # 01:30, the first time
    (dt.datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ET), "EST", dt.date(2026, 10, 30)),  # 01:30, again
])
def test_dst_sundays_show_the_last_business_day(stack: Stack, moment: dt.datetime, zone: str,
                                                shown_date: dt.date) -> None:
    for page in ("Home.py", "pages/1_Timeline.py", "pages/2_Workflow.py"):
        at = at_moment(page, moment)
        assert not at.exception, (page, at.exception)
        assert at.date_input(key="business_date").value == shown_date
    home = at_moment("Home.py", moment)
    assert metrics(home)[f"Now ({zone})"] == moment.strftime("%H:%M")


@pytest.mark.parametrize("monday", [SPRING_MONDAY, FALL_MONDAY])
def test_the_monday_after_a_dst_change_projects_in_wall_clock_time(stack: Stack, monday: dt.date) -> None:
    """History from the other side of the change; the ETA and the lines of the Gantt stay in ET."""
    home = at_moment("Home.py", at_et(monday, "06:20"))
    assert not home.exception
    finish = metrics(home)["Workflow finish"]
    assert "~06:30" <= finish <= "~06:59", finish  # 06:15 + DI-749 → DI-986 → BI-820 medians, not an hour off
    timeline = at_moment("pages/1_Timeline.py", at_et(monday, "06:20"))
    assert "target 08:00" in timeline.get("plotly_chart")[0].proto.spec
    assert milestones(timeline)["List generation starts"] == "done"


def test_an_unreachable_engine_shows_the_last_known_state_with_its_age(stack: Stack, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The state DB is replaced by a file that is not a database: a real failure of every engine read."""
    copy = tmp_path / "state-copy"
    copy.mkdir()
    db = Path(stack.env["CONSOLE_DATA_DIR"]) / "state.db"
    for suffix in ("", "-wal", "-shm"):  # WAL mode: recent writes live in the -wal file
        if Path(f"{db}{suffix}").exists():
            shutil.copy(f"{db}{suffix}", copy / f"state.db{suffix}")
    monkeypatch.setenv("CONSOLE_STATE_URL", f"sqlite:///{copy / 'state.db'}")
    moment = at_et(MORNING, "06:20")
    home = at_moment("Home.py", moment)
    assert verdict(home).startswith("**On track**")
    st.cache_data.clear()  # the next refresh reads again (the last good read stays with the server)
    for suffix in ("", "-wal", "-shm"):
        path = copy / f"state.db{suffix}"
        if path.exists():
            path.write_bytes(b"this is not a database" * 100)
    home.session_state[CLOCK_KEY] = FrozenClock(moment + dt.timedelta(minutes=3))
    home.run()
    assert not home.exception
    warnings = " ".join(w.value for w in home.warning)
    assert "cannot be reached; showing its last known state from 06:20 ET (3 min ago)" in warnings
    assert metrics(home)["Tasks done"] == "1 of 11"  # the last known run, not an empty page
    fresh = AppTest.from_file(str(ROOT / "pages/1_Timeline.py"), default_timeout=30)
    st.cache_resource.clear()  # a restarted server has no last known state: it says so
    fresh.session_state[CLOCK_KEY] = FrozenClock(moment)
    fresh.run()
    assert not fresh.exception
    assert "Traceback" not in " ".join(e.value for e in fresh.error)
