"""The Databricks adapter through the real databricks-sdk against the fake Jobs API: state mapping, faults
(429, 503, slow replies, refused connections, HTML 502, unknown enum values), task paging, repairs after a
retried POST, cluster events and deploy-job. Every fault is bounded in count and time.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import datetime as dt
import itertools
import re
import socket
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from databricks.sdk.service import jobs

from console import actions, deploy
from console.adapters.databricks import api_states
from console.auth import User
from console.clock import at_et
from console.errors import EngineUnavailable
from console.model import TaskState, console_state
from console.settings import DEFAULT_SETTINGS, load_settings
from tests import dbxkit
from tests.fake_databricks import FakeJobsAPI

DAY = dt.date(2026, 11, 24)
# A read gives up after its 2 s budget (a page renders within 3 s; see bench_databricks for the figures).
# The tests only check it gives up rather than hang: the margin absorbs a loaded CI machine (a 3 s bound
# failed once under load), so time itself is not what they assert.
WITHIN = 6.0


@pytest.fixture
def fake() -> Iterator[FakeJobsAPI]:
    with FakeJobsAPI() as server:
        dbxkit.at_six(server, DAY)
        yield server


@pytest.fixture
def env(fake: FakeJobsAPI, tmp_path: Any) -> SimpleNamespace:
    spec = dbxkit.spec()
    job_id = dbxkit.deploy(fake, spec)
    engine = dbxkit.engine(fake, spec, dbxkit.store(tmp_path))
    engine.cooldown_seconds = 0.0  # each read in these tests tries again
    return SimpleNamespace(fake=fake, spec=spec, job_id=job_id, engine=engine)


def failed_run(env: SimpleNamespace, failing: str = "DI-749") -> int:
    run_id = env.fake.new_run(env.job_id, {"business_date": DAY.isoformat()})
    env.fake.finish(run_id, fail={env.spec.task(failing).key: "FileNotFoundError: drop missing"})
    return run_id


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        return call(), time.monotonic() - started
    except Exception as exc:
        return exc, time.monotonic() - started


# ------------------------------------------------------------------------------------------------ states
def _obj(state: dict[str, Any] | None, status: dict[str, Any] | None) -> Any:
    return jobs.RunTask.from_dict({"task_key": "t", **({"state": state} if state else {}),
                                   **({"status": status} if status else {})})


def test_every_api_state_maps_to_a_console_state_and_unknown_ones_to_unknown() -> None:
    for life, result in itertools.product([*jobs.RunLifeCycleState, None], [*jobs.RunResultState, None]):
        legacy = {"life_cycle_state": life.value if life else None, "result_state": result.value if result else None}
        assert isinstance(console_state(*api_states(_obj(legacy, None))), TaskState)
    for life in jobs.RunLifecycleStateV2State:
        for code, kind in itertools.product([*jobs.TerminationCodeCode, None], [*jobs.TerminationTypeType, None]):
            status = {"state": life.value, "termination_details": {"code": code.value if code else None,
                                                                    "type": kind.value if kind else None}}
            state = console_state(*api_states(_obj(None, status)))
            assert isinstance(state, TaskState)
            if life.value == "TERMINATED" and code is not None:
                assert state != TaskState.UNKNOWN, code
    terminated = {"state": "TERMINATED", "termination_details": {"code": "SUCCESS", "type": "SUCCESS"}}
    assert console_state(*api_states(_obj(None, terminated))) == TaskState.SUCCEEDED
    failed = {"state": "TERMINATED", "termination_details": {"code": "DRIVER_ERROR", "type": "CLOUD_FAILURE"}}
    assert console_state(*api_states(_obj(None, failed))) == TaskState.FAILED
    run_error = {"code": "RUN_EXECUTION_ERROR", "type": "CLIENT_ERROR"}
    upstream = _obj({"life_cycle_state": "TERMINATED", "result_state": "UPSTREAM_FAILED"},
                    {"state": "TERMINATED", "termination_details": run_error})
    assert console_state(*api_states(upstream)) == TaskState.UPSTREAM_FAILED
    # what Jobs API 2.2 sends for a task whose upstream failed: termination code SKIPPED, result UPSTREAM_FAILED
    skipped = _obj({"life_cycle_state": "TERMINATED", "result_state": "UPSTREAM_FAILED"},
                   {"state": "TERMINATED", "termination_details": {"code": "SKIPPED", "type": "SUCCESS"}})
    assert console_state(*api_states(skipped)) == TaskState.UPSTREAM_FAILED
    excluded = _obj({"life_cycle_state": "TERMINATED", "result_state": "EXCLUDED"},
                    {"state": "TERMINATED", "termination_details": {"code": "SKIPPED", "type": "SUCCESS"}})
    assert console_state(*api_states(excluded)) == TaskState.SKIPPED
    waiting = {"state": "WAITING"}
    assert console_state(*api_states(_obj(None, waiting))) == TaskState.RUNNING
    # values this SDK does not know arrive as None: unknown, never a crash
    assert console_state(*api_states(_obj({"life_cycle_state": "HIBERNATING"}, {"state": "HIBERNATING"}))) \
        == TaskState.UNKNOWN
    odd = {"state": "TERMINATED", "termination_details": {"code": "NEW_CODE", "type": "NEW_TYPE"}}
    assert console_state(*api_states(_obj(None, odd))) == TaskState.UNKNOWN


def test_unknown_state_values_from_the_api_show_as_unknown(env: SimpleNamespace) -> None:
    failed_run(env)
    env.fake.unknown_states = True
    run = env.engine.run_for_date(DAY)
    assert run.state == TaskState.UNKNOWN and run.state.label == "unknown"
    assert {t.state for t in run.tasks} == {TaskState.UNKNOWN}
    plan_error = None
    try:
        actions.plan_action(SimpleNamespace(settings=load_settings(DEFAULT_SETTINGS, secrets={}), spec=env.spec),
                            "repair", DAY, run, at_et(DAY, "07:00"))
    except Exception as exc:
        plan_error = exc
    assert plan_error is not None and "unknown" in str(plan_error)  # no rerun of a run in an unknown state


# ------------------------------------------------------------------------------------------------ faults on reads
def test_a_429_with_retry_after_is_waited_for_within_the_budget(env: SimpleNamespace, tmp_path: Any) -> None:
    failed_run(env)
    # A budget well above the Retry-After: the test is about honouring it, not about the clock of a busy machine.
    engine = dbxkit.engine(env.fake, env.spec, dbxkit.store(tmp_path / "429"),
                           dbxkit.replace(dbxkit.BUDGETS, read_budget_seconds=10.0))
    engine.cooldown_seconds = 0.0
    engine.job_id()
    before = len(env.fake.requests("GET", "/api/2.2/jobs/runs/list"))
    with env.fake.fault("429", "/api/2.2/jobs/runs/list", seconds=1):
        run, took = timed(lambda: engine.run_for_date(DAY))
    assert run.state == TaskState.FAILED and took >= 1.0  # it waited for the Retry-After, then read
    assert len(env.fake.requests("GET", "/api/2.2/jobs/runs/list")) - before == 2  # refused once, then served


@pytest.mark.parametrize("kind,seconds", [("503", 60), ("503", 1), ("slow", 5), ("html502", 0)])
def test_a_failing_or_slow_workspace_fails_a_read_within_the_budget(env: SimpleNamespace, kind: str,
                                                                   seconds: float) -> None:
    failed_run(env)
    env.engine.job_id()
    with env.fake.fault(kind, "/api/2.2/jobs/runs/list", times=5, seconds=seconds):
        error, took = timed(lambda: env.engine.run_for_date(DAY))
    assert isinstance(error, EngineUnavailable), error
    assert took < WITHIN, took
    assert "Traceback" not in str(error)
    if kind == "html502":
        assert "502 Bad Gateway" in str(error) and "<html" not in str(error)
    assert env.engine.run_for_date(DAY).state == TaskState.FAILED  # and it recovers


def test_a_refused_connection_fails_a_read_within_the_budget(tmp_path: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    spec = dbxkit.spec()
    engine = dbxkit.engine(SimpleNamespace(host=f"http://127.0.0.1:{port}"), spec, dbxkit.store(tmp_path))
    error, took = timed(lambda: engine.run_for_date(DAY))
    assert isinstance(error, EngineUnavailable) and took < WITHIN, (error, took)
    again, took = timed(lambda: engine.list_runs(DAY, DAY))  # within the cooldown: at once
    assert isinstance(again, EngineUnavailable) and took < 1.0  # no network wait at all


def test_a_whole_minute_of_503_keeps_every_read_within_the_budget(env: SimpleNamespace) -> None:
    failed_run(env)
    env.engine.cooldown_seconds = 15.0
    env.fake.down = True
    took = []
    for _ in range(4):
        error, seconds = timed(lambda: env.engine.run_for_date(DAY))
        assert isinstance(error, EngineUnavailable)
        took.append(seconds)
    assert max(took) < WITHIN and sum(took) < WITHIN + 1  # later reads fail at once (cooldown)
    assert len(env.fake.requests()) < 12  # the down workspace is not hammered


# ------------------------------------------------------------------------------------------------ paging
def test_a_run_with_more_than_100_task_runs_is_read_whole(env: SimpleNamespace) -> None:
    run_id = failed_run(env)
    with env.fake.lock:
        run = env.fake.state.runs[run_id]
        extra = []
        for attempt in range(1, 14):  # 13 more attempts of each of the 11 tasks: 154 task runs
            for task in run["tasks"][:11]:
                clone = copy.deepcopy(task)
                clone["run_id"], clone["attempt_number"] = env.fake._id(), attempt
                clone["start_time"] = task["start_time"] + attempt
                extra.append(clone)
        run["tasks"].extend(extra)
    read = env.engine.get_run(run_id)
    assert len(read.attempts) == 154
    assert {t.attempt for t in read.tasks} == {13}
    assert len([r for r in env.fake.requests("GET", "/api/2.2/jobs/runs/get")]) >= 2  # two pages


# ------------------------------------------------------------------------------------------------ actions
def adapters_of(env: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(settings=load_settings(DEFAULT_SETTINGS, secrets={}), spec=env.spec, engine=env.engine,
                           store=env.engine.store)


def test_a_double_click_on_rerun_through_a_slow_post_makes_one_repair(env: SimpleNamespace) -> None:
    """The first repair POST is answered after the client's 1 s timeout: the SDK retries it, the retry is
    refused (latest_repair_id moved), the adapter reads the repair history and reports the repair made."""
    run_id = failed_run(env)
    run = env.engine.run_for_date(DAY)
    adapters = adapters_of(env)
    plan = actions.plan_action(adapters, "repair", DAY, run, at_et(DAY, "07:10"))
    engineer = User("eng@example.com", "engineer")
    with env.fake.fault("slow", "/api/2.2/jobs/runs/repair", method="POST", seconds=1.5), \
            cf.ThreadPoolExecutor(max_workers=2) as pool:
        clicks = [pool.submit(actions.request_action, adapters, engineer, plan, False) for _ in range(2)]
        results = [c.result(timeout=30) for c in clicks]
    assert len(env.fake.requests("POST", "/api/2.2/jobs/runs/repair")) >= 2  # the SDK did retry the POST
    repairs = [r for r in env.fake.state.runs[run_id]["repair_history"] if r["type"] == "REPAIR"]
    assert len(repairs) == 1
    accepted = [r for r in results if not r.duplicate]
    assert len(accepted) == 1 and accepted[0].ok, accepted
    assert f"repair {repairs[0]['id']}" in accepted[0].message
    status = env.engine.request_status(accepted[0].request_id)
    assert status["status"] == "done"


def test_run_now_through_a_slow_post_starts_one_run(env: SimpleNamespace) -> None:
    with env.fake.fault("slow", "/api/2.2/jobs/run-now", method="POST", seconds=1.5):
        result = env.engine.submit("trigger", "ops@example.com", f"trigger:{DAY}:first", business_date=DAY)
    assert result.ok, result.message
    assert len(env.fake.requests("POST", "/api/2.2/jobs/run-now")) >= 2
    assert len(env.fake.state.runs) == 1


def test_an_action_the_api_refuses_is_reported_and_recorded_as_failed(env: SimpleNamespace) -> None:
    run_id = env.fake.new_run(env.job_id, {"business_date": DAY.isoformat()})  # still pending: not repairable
    result = env.engine.submit("repair", "eng@example.com", "repair:x", business_date=DAY, run_id=run_id)
    assert not result.ok and "not in a terminal state" in result.message
    assert env.engine.request_status(result.request_id)["status"] == "failed"
    assert env.engine.open_requests(DAY) == []
    cancel = env.engine.submit("cancel", "eng@example.com", f"cancel:{run_id}", business_date=DAY, run_id=run_id)
    assert cancel.ok and env.engine.get_run(run_id).state == TaskState.CANCELED


# ------------------------------------------------------------------------------------------------ cluster events
def test_cluster_events_of_the_run_show_spot_loss_and_resizing(env: SimpleNamespace) -> None:
    run_id = failed_run(env)
    cluster = f"cluster-{run_id}"
    base = int(at_et(DAY, "06:00").timestamp() * 1000)
    env.fake.add_cluster_events(cluster, [
        {"cluster_id": cluster, "timestamp": base, "type": "CREATING", "details": {}},
        {"cluster_id": cluster, "timestamp": base + 60_000, "type": "RESIZING",
         "details": {"cause": "AUTOSCALE", "current_num_workers": 2, "target_num_workers": 6}},
        {"cluster_id": cluster, "timestamp": base + 90_000, "type": "UPSIZE_COMPLETED",
         "details": {"cause": "AUTOSCALE", "current_num_workers": 6, "target_num_workers": 6}},
        {"cluster_id": cluster, "timestamp": base + 300_000, "type": "NODES_LOST",
         "details": {"reason": {"code": "SPOT_INSTANCE_TERMINATION"}, "current_num_workers": 4}},
        {"cluster_id": cluster, "timestamp": base + 400_000, "type": "SOMETHING_NEW", "details": {}},
    ])
    run = env.engine.get_run(run_id)
    assert run.cluster_ids == [cluster]
    events = env.engine.cluster_events(run)
    assert [e["type"] for e in events] == ["UNKNOWN", "NODES_LOST", "UPSIZE_COMPLETED", "RESIZING", "CREATING"]
    assert events[1]["reason"] == "SPOT_INSTANCE_TERMINATION" and events[3]["cause"] == "AUTOSCALE"


# ------------------------------------------------------------------------------------------------ deploy-job
def test_deploy_job_creates_then_shows_a_correct_difference(fake: FakeJobsAPI, tmp_path: Any) -> None:
    spec = dbxkit.spec()
    engine = dbxkit.engine(fake, spec, dbxkit.store(tmp_path))
    settings = dbxkit.BUDGETS
    what, lines = deploy.deploy_job(engine, spec, settings, dry_run=True)
    assert what.startswith("would create") and fake.state.jobs == {}
    assert any(line.startswith("+ tasks[task_key=BI-737_GR_Call_List].max_retries") for line in lines)
    what, _ = deploy.deploy_job(engine, spec, settings)
    assert what.startswith("created job") and len(fake.state.jobs) == 1
    (job,) = fake.state.jobs.values()
    assert job["settings"]["parameters"] == [{"name": "business_date", "default": ""}]
    wheel = job["settings"]["tasks"][0]["python_wheel_task"]
    assert wheel["entry_point"] == "run_task" and wheel["named_parameters"]["date"].startswith("{{job.parameters")
    assert deploy.deploy_job(engine, spec, settings, dry_run=True)[1] == []
    # someone edits the job in the UI: the dry run shows exactly that
    job["settings"]["tasks"][3]["max_retries"] = 5
    job["settings"]["schedule"]["quartz_cron_expression"] = "0 30 6 ? * MON-FRI"
    del job["settings"]["tasks"][10]
    what, lines = deploy.deploy_job(engine, spec, settings, dry_run=True)
    assert what.startswith("would reset")
    assert "~ tasks[task_key=BI-737_GR_Call_List].max_retries: 5 -> 1" in lines
    assert '~ schedule.quartz_cron_expression: "0 30 6 ? * MON-FRI" -> "0 0 6 ? * MON-FRI"' in lines
    assert any(line.startswith("+ tasks[task_key=DI-977_prescreen_email_list_upload].") for line in lines)
    assert job["settings"]["tasks"][3]["max_retries"] == 5  # a dry run changes nothing
    what, _ = deploy.deploy_job(engine, spec, settings)
    assert what.startswith("reset job") and deploy.deploy_job(engine, spec, settings, dry_run=True)[1] == []


# ------------------------------------------------------------------------------------------------ CLI
def cli(env: dict[str, str], *args: str) -> Any:
    import os
    import subprocess
    import sys

    from console.settings import ROOT

    return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


def test_deploy_job_and_doctor_from_the_command_line(fake: FakeJobsAPI, tmp_path: Any) -> None:
    from tests.conftest import free_port
    from tests.prodkit import production_env

    # Production mode (the embedded stack never drives Databricks); Snowflake names a port nothing listens on.
    env = {**production_env(tmp_path, free_port()), "CONSOLE_DATABRICKS_HOST": fake.host,
           "DATABRICKS_TOKEN": "fake-token", "CONSOLE_ENGINE": "databricks"}
    created = cli(env, "deploy-job")
    assert created.returncode == 0 and "created job" in created.stdout and len(fake.state.jobs) == 1
    assert "already matches the spec" in cli(env, "deploy-job", "--dry-run").stdout
    doctor = cli(env, "doctor", "--settings")
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr  # no embedded warehouse runs here
    assert "FAIL  warehouse" in doctor.stdout and "fix:" in doctor.stdout
    assert "ok    workflow engine  job" in doctor.stdout and "fake-token" not in doctor.stdout


def test_doctor_names_an_unreachable_workspace(env: SimpleNamespace) -> None:
    from console.doctor import run_checks

    adapters = SimpleNamespace(**vars(adapters_of(env)), mode="embedded", is_demo=True,
                               warehouse=SimpleNamespace(label="none", session=None))
    env.fake.down = True
    checks = {c.system: c for c in run_checks(adapters.settings, adapters)}  # type: ignore[arg-type]
    engine = checks["workflow engine"]
    assert not engine.ok and "fake: down" in engine.detail, engine
    assert "DATABRICKS_HOST" in engine.fix or "doctor" in engine.fix
    assert checks["state DB"].ok and checks["SMTP"].skipped


# ------------------------------------------------------------------------------------------------ settings
def test_databricks_settings_are_validated_and_pick_the_engine(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from console.app import build_adapters
    from console.errors import ConfigError

    text = DEFAULT_SETTINGS.read_text()
    path = tmp_path / "console.toml"
    for old, new, words in [('host = ""', 'host = "dbc-123.cloud.databricks.com"', "[databricks] host: expected a URL"),
                            ("read_budget_seconds = 2", "read_budget_seconds = 90", "[databricks] read_budget_seconds"),
                            ('engine = "auto"', 'engine = "airflow"', "[workflow] engine: expected one of")]:
        path.write_text(text.replace(old, new, 1))
        with pytest.raises(ConfigError, match=re.escape(words)):
            load_settings(path, secrets={})
    monkeypatch.setenv("CONSOLE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONSOLE_ENGINE", "databricks")
    monkeypatch.setenv("CONSOLE_DATABRICKS_HOST", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="The embedded stack cannot drive Databricks"):
        build_adapters(load_settings(DEFAULT_SETTINGS, secrets={}))
    production = {"connections": {"snowflake": {"account": "acme-1", "user": "svc"}}}
    adapters = build_adapters(load_settings(DEFAULT_SETTINGS, secrets=production))
    assert adapters.engine.kind == "databricks" and adapters.mode == "production"
    assert "http://127.0.0.1:9" in adapters.engine.label  # built without contacting the host
    monkeypatch.setenv("CONSOLE_ENGINE", "spark")
    with pytest.raises(ConfigError, match="CONSOLE_ENGINE"):
        load_settings(DEFAULT_SETTINGS, secrets={})


def test_a_read_of_30_business_days_lists_its_windows_side_by_side(env: SimpleNamespace) -> None:
    """runs/list pages 25 runs at a time; 30 business days of runs took three pages one after the other (2.8 s
    on a slow workspace, past the 2 s read budget). The read now asks for windows of 28 days side by side:
    every run once, newest first, and the requests overlap in time instead of queueing."""
    from console.clock import last_business_days

    days = last_business_days(DAY, 30)
    made = []
    for day in days:
        dbxkit.at_six(env.fake, day)
        run_id = env.fake.new_run(env.job_id, {"business_date": day.isoformat()})
        env.fake.finish(run_id)
        made.append(run_id)
    before = len(env.fake.requests("GET", "/api/2.2/jobs/runs/list"))
    with env.fake.fault("slow", path="/api/2.2/jobs/runs/list", times=20, seconds=0.6):
        runs = env.engine.list_runs(days[0], days[-1], with_tasks=False)
    assert [r.run_id for r in runs] == sorted(made, reverse=True)
    assert [r.business_date for r in runs] == sorted(days, reverse=True)
    calls = env.fake.requests("GET", "/api/2.2/jobs/runs/list")[before:]
    assert len(calls) >= 2  # one per window
    started = sorted(at for at, _, _ in calls)
    assert started[-1] - started[0] < 0.6  # all sent before the first (0.6 s) answer came back: side by side


def test_a_request_left_running_by_a_dead_process_does_not_block_the_date(env: SimpleNamespace) -> None:
    """A Databricks request is written "running" before its API call; if the UI process died there it stayed
    running forever, and every action on that date was refused (issue 14). Past its action budget it is ended
    as failed (audited), and a non-console error during the call no longer leaves it running either."""

    from console.store import action_requests

    request_id, _ = env.engine._claim_request("repair", "eng@example.com", "repair:1:dead", DAY, 1, [],
                                              status="running")
    assert [r["id"] for r in env.engine.open_requests(DAY)] == [request_id]  # within its budget: in flight
    with env.engine.store.begin() as conn:
        conn.execute(action_requests.update().where(action_requests.c.id == request_id).values(
            requested_at=dt.datetime.now(dt.UTC) - env.engine.stale_running - dt.timedelta(seconds=1)))
    env.engine.process_requests()  # the worker's poll
    assert env.engine.open_requests(DAY) == []
    ended = env.engine.request_status(request_id)
    assert ended["status"] == "failed" and "stopped before it answered" in ended["message"]

    def boom(*_: Any, **__: Any) -> Any:
        raise KeyError("not a console error")

    env.engine._repair = boom
    run_id = failed_run(env)
    with pytest.raises(KeyError):
        env.engine.submit("repair", "eng@example.com", "repair:2:boom", business_date=DAY, run_id=run_id)
    assert env.engine.open_requests(DAY) == []  # ended as failed, not left running
