"""One engine contract, run against the local engine, the Databricks adapter through the fake Jobs API, and
(marked ``databricks``) a real workspace when ``DATABRICKS_HOST`` is set.

A driver per engine makes runs end the way a test asks (a task fails with a message, or all succeed): the
local engine executes its request rows with task modules that fail on request; the fake Jobs API finishes
its runs. Everything else (``submit``, the reads, the request log) is the engine interface itself.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest

from console.model import TaskState
from tests import dbxkit
from tests.enginekit import make_env
from tests.fake_databricks import FakeJobsAPI

DAY = dt.date(2026, 11, 24)
EARLIER = dt.date(2026, 11, 23)
EMPTY_DAY = dt.date(2026, 11, 2)


class LocalDriver:
    def __init__(self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.env = make_env(tmp_path, monkeypatch)
        self.engine = self.env.engine
        self.spec = self.env.spec

    def fail(self, failing: dict[str, str]) -> None:
        """The next runs of these tasks (short keys) fail with these messages."""
        modules = {t.short_key: t.module.split(".")[-1] for t in self.spec.tasks}
        self.env.plan(**{modules[k]: {"fail_times": 99, "message": m} for k, m in failing.items()})

    def carry_out(self, day: dt.date) -> None:
        self.engine.process_requests()


class FakeDatabricksDriver:
    def __init__(self, fake: FakeJobsAPI, tmp_path: Any) -> None:
        self.fake = fake
        self.spec = dbxkit.spec()
        dbxkit.deploy(fake, self.spec)
        self.engine = dbxkit.engine(fake, self.spec, dbxkit.store(tmp_path))
        self.failing: dict[str, str] = {}

    def fail(self, failing: dict[str, str]) -> None:
        self.failing = {self.spec.task(k).key: m for k, m in failing.items()}

    def carry_out(self, day: dt.date) -> None:
        with self.fake.lock:
            run_id = max(r["run_id"] for r in self.fake.state.runs.values()
                         if any(p["value"] == day.isoformat() for p in r["job_parameters"]))
        self.fake.finish(run_id, fail=self.failing)


@pytest.fixture(params=["local", "fake-databricks", pytest.param("databricks", marks=pytest.mark.databricks)])
def driver(request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if request.param == "local":
        yield LocalDriver(tmp_path, monkeypatch)
    elif request.param == "fake-databricks":
        with FakeJobsAPI() as fake:
            dbxkit.at_six(fake, DAY)
            yield FakeDatabricksDriver(fake, tmp_path)
    else:
        if not os.environ.get("DATABRICKS_HOST"):
            pytest.skip("DATABRICKS_HOST is not set: no real workspace to run the contract against")
        from console.adapters.databricks import DatabricksEngine
        from console.settings import load_settings

        settings = load_settings()
        driver = type("LiveDriver", (), {})()
        driver.spec = dbxkit.spec()
        driver.engine = DatabricksEngine(dbxkit.store(tmp_path), driver.spec, settings.databricks)
        driver.live = True
        yield driver


def controlled(driver: Any) -> None:
    if getattr(driver, "live", False):
        pytest.skip("needs runs whose outcome the test decides (local engine and fake only)")


def test_a_day_without_a_run_reads_as_none(driver: Any) -> None:
    assert driver.engine.run_for_date(EMPTY_DAY) is None
    assert driver.engine.list_runs(EMPTY_DAY, EMPTY_DAY) == []
    assert driver.engine.open_requests(EMPTY_DAY) == []


def test_run_now_clicked_twice_starts_one_run(driver: Any) -> None:
    controlled(driver)
    first = driver.engine.submit("trigger", "ops@example.com", f"trigger:{DAY}:first", business_date=DAY)
    second = driver.engine.submit("trigger", "ops@example.com", f"trigger:{DAY}:first", business_date=DAY)
    assert first.ok and not first.duplicate
    assert second.duplicate and second.request_id == first.request_id
    driver.carry_out(DAY)
    run = driver.engine.run_for_date(DAY)
    assert run is not None and run.state == TaskState.SUCCEEDED and run.business_date == DAY
    assert [t.state for t in run.tasks] == [TaskState.SUCCEEDED] * len(driver.spec.keys)
    assert len(driver.engine.list_runs(DAY, DAY)) == 1
    assert driver.engine.request_status(first.request_id)["status"] == "done"
    assert driver.engine.open_requests(DAY) == []


def test_a_failed_task_has_its_error_and_its_dependents_upstream_failed(driver: Any) -> None:
    controlled(driver)
    driver.fail({"DI-749": "non-openers file missing"})
    driver.engine.submit("trigger", "ops@example.com", f"trigger:{DAY}:first", business_date=DAY)
    driver.carry_out(DAY)
    run = driver.engine.run_for_date(DAY)
    states = {driver.spec.task(t.task_key).short_key: t.state for t in run.tasks}
    assert run.state == TaskState.FAILED
    assert states["DI-749"] == TaskState.FAILED
    assert {states[k] for k in ("DI-986", "BI-820", "DI-1049", "DI-977")} == {TaskState.UPSTREAM_FAILED}
    assert {states[k] for k in ("BI-2482", "BI-737", "DI-862")} == {TaskState.SUCCEEDED}
    failed = run.task(driver.spec.task("DI-749").key)
    assert "non-openers file missing" in (failed.error_message or "")
    assert failed.start is not None and failed.end is not None and failed.duration_seconds is not None


def test_repairs_rerun_the_failed_tasks_then_a_chosen_one_with_dependents(driver: Any) -> None:
    controlled(driver)
    driver.fail({"DI-749": "file late"})
    driver.engine.submit("trigger", "ops@example.com", f"trigger:{DAY}:first", business_date=DAY)
    driver.carry_out(DAY)
    run = driver.engine.run_for_date(DAY)
    first_attempt = run.task(driver.spec.task("DI-749").key).attempt
    driver.fail({})
    result = driver.engine.submit("repair", "eng@example.com", f"repair:{run.run_id}:r0:", business_date=DAY,
                                  run_id=run.run_id)
    assert result.ok, result.message
    driver.carry_out(DAY)
    run = driver.engine.run_for_date(DAY)
    assert run.state == TaskState.SUCCEEDED and len(run.repairs) == 1
    assert run.task(driver.spec.task("DI-749").key).attempt > first_attempt
    assert run.task(driver.spec.task("BI-737").key).attempt == 0  # not rerun
    # A second repair of the same run (Databricks needs latest_repair_id for it)
    result = driver.engine.submit("repair", "eng@example.com", f"repair:{run.run_id}:r1:DI-986", business_date=DAY,
                                  run_id=run.run_id, task_keys=["DI-986"])
    assert result.ok, result.message
    driver.carry_out(DAY)
    run = driver.engine.run_for_date(DAY)
    assert run.state == TaskState.SUCCEEDED and len(run.repairs) == 2
    last = run.repairs[-1]["repair_id"]
    rerun = {driver.spec.task(t.task_key).short_key for t in run.attempts if t.repair_id == last}
    assert rerun == {"DI-986", "BI-820", "DI-1049", "DI-977"}


def test_a_window_of_days_lists_their_runs_newest_first_with_history(driver: Any) -> None:
    controlled(driver)
    for day in (EARLIER, DAY):
        if hasattr(driver, "fake"):
            dbxkit.at_six(driver.fake, day)
        driver.engine.submit("trigger", "scheduler", f"trigger:{day}:first", business_date=day)
        driver.carry_out(day)
    runs = driver.engine.list_runs(EARLIER, DAY)
    assert [r.business_date for r in runs] == [DAY, EARLIER]
    assert [r.business_date for r in driver.engine.list_runs(DAY, DAY)] == [DAY]
    history = driver.engine.task_history(EARLIER, DAY)
    assert len(history) == 2 * len(driver.spec.keys)
    assert {row["state"] for row in history} == {"succeeded"}
    assert all(row["duration_seconds"] is not None for row in history)
