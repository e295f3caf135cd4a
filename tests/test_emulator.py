"""The rehearsal's Databricks workspace emulator (rehearsal/), driven by the real databricks-sdk.

The outbound-lists job is deployed by ``python -m console deploy-job``; its 06:00 schedule fires on the
emulator's clock; each task runs the built wheel's ``run_task`` in a subprocess against the embedded warehouse;
the console's ``DatabricksEngine`` reads and repairs the run. A tiny synthetic job (``spark_python_task``
scripts) covers retries, timeouts, ``run_if``, cancel and the queue. Everything bounded in time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from console.adapters.databricks import DatabricksEngine
from console.clock import SystemClock, at_et, rehearsal_clock
from console.model import TaskState
from console.settings import ROOT, DatabricksSettings
from console.store import StateStore
from console.workflow import load_workflow
from jobs.business_calendar import CLOCK_FILE_ENV, ClockFileError, is_business_day, now_et
from jobs.tasks.di_749 import file_name
from rehearsal.clock import EmulatorClock
from rehearsal.cron import CronError, QuartzCron
from rehearsal.server import WorkspaceEmulator
from rehearsal.wheel import build_wheel
from rehearsal.workspace import run_if_verdict

from .conftest import DEMO_END

DI_749 = "Outbound_list_for_funnel_DI-749_Email_Non_Openers_from_SFTP"
DI_749_DEPENDENTS = {"DI-986_Outbound_List_Generation_for_funnel", "BI-820_GR_text_eligible",
                     "DI-1049_PIF_list_to_SFMC_SFTP", "DI-977_prescreen_email_list_upload"}
WHEEL_PATH = "/Workspace/Shared/outbound-ops-console/"
SECRETS = {"snowflake": {"account": "rehearsal-acct", "user": "svc_outbound", "password": "s3cret-not-shown"}}


def client(emulator: WorkspaceEmulator):
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    return WorkspaceClient(config=Config(host=emulator.host, token=emulator.token))


# ------------------------------------------------------------------ pure parts
def test_quartz_cron_fires_weekdays_at_six_eastern_across_dst():
    cron = QuartzCron.parse("0 0 6 ? * MON-FRI")
    friday_noon = dt.datetime(2026, 11, 27, 17, tzinfo=dt.UTC)
    assert cron.next_after(friday_noon, "America/New_York") == dt.datetime(2026, 11, 30, 11, tzinfo=dt.UTC)
    before_dst_end = dt.datetime(2026, 10, 30, 12, tzinfo=dt.UTC)  # Friday; EDT → EST on Sunday Nov 1
    assert cron.next_after(before_dst_end, "America/New_York") == dt.datetime(2026, 11, 2, 11, tzinfo=dt.UTC)
    assert QuartzCron.parse("0 30 2 * * ?").next_after(  # 02:30 does not exist on 2027-03-14 in New York
        dt.datetime(2027, 3, 14, 0, tzinfo=dt.UTC), "America/New_York") == dt.datetime(2027, 3, 15, 6, 30,
                                                                                     tzinfo=dt.UTC)


@pytest.mark.parametrize(("expression", "says"), [
    ("0 0 6 L * ?", "L, W or #"), ("0 0 6 ? * 2#1", "L, W or #"), ("0 0 6 * * MON", "exactly one"),
    ("0 0 24 ? * *", "outside 0-23"), ("0 0 6 ? *", "expected 6 or 7 fields"), ("0 0 6 ? * FUNDAY", "not a number"),
])
def test_quartz_cron_refuses_what_it_does_not_support_saying_why(expression, says):
    with pytest.raises(CronError, match=re.escape(says)):
        QuartzCron.parse(expression)


@pytest.mark.parametrize(("condition", "results", "verdict"), [
    ("ALL_SUCCESS", ["SUCCESS", "SUCCESS"], None),
    ("ALL_SUCCESS", ["SUCCESS", "FAILED"], "UPSTREAM_FAILED"),
    ("ALL_SUCCESS", ["UPSTREAM_FAILED"], "UPSTREAM_FAILED"),
    ("ALL_SUCCESS", ["CANCELED"], "UPSTREAM_CANCELED"),
    ("ALL_SUCCESS", ["EXCLUDED"], "EXCLUDED"),
    ("ALL_DONE", ["FAILED", "TIMEDOUT"], None),
    ("AT_LEAST_ONE_SUCCESS", ["FAILED", "SUCCESS"], None),
    ("AT_LEAST_ONE_SUCCESS", ["FAILED", "FAILED"], "UPSTREAM_FAILED"),
    ("NONE_FAILED", ["SUCCESS", "EXCLUDED"], None),
    ("NONE_FAILED", ["SUCCESS", "TIMEDOUT"], "UPSTREAM_FAILED"),
    ("AT_LEAST_ONE_FAILED", ["SUCCESS", "SUCCESS"], "EXCLUDED"),
    ("ALL_FAILED", ["FAILED", "FAILED"], None),
])
def test_run_if_conditions(condition, results, verdict):
    assert run_if_verdict(condition, results) == verdict


@pytest.mark.parametrize(("stderr", "error"), [
    ("Traceback (most recent call last):\n  File \"x\", line 1\n    run()\njobs.common.SourceDataMissing: late\n"
     "2026-11-25 06:10:00 INFO snowflake.snowpark.session: Closed session: None\n",
     "jobs.common.SourceDataMissing: late"),
    ("killed by the OOM killer\n", "killed by the OOM killer"),
    ("", "the process exited with status 137"),
])
def test_a_failed_tasks_error_is_its_exception_not_the_log_line_after_it(stderr, error):
    from rehearsal.workspace import _error_of

    found, trace = _error_of(stderr, 137)
    assert found == error
    assert trace.endswith(error) if "Traceback" in stderr else trace == ""


def test_console_processes_follow_the_rehearsal_clock_file(tmp_path, monkeypatch):
    monkeypatch.delenv(CLOCK_FILE_ENV, raising=False)
    assert rehearsal_clock() is None  # production: real time, no banner
    real = SystemClock().now()
    file = tmp_path / "clock.json"
    clock = EmulatorClock(at_et(dt.date(2026, 11, 25), "05:59"), file=file)
    monkeypatch.setenv(CLOCK_FILE_ENV, str(file))
    assert abs((SystemClock().now() - at_et(dt.date(2026, 11, 25), "05:59")).total_seconds()) < 5
    clock.advance(3600)
    assert SystemClock().now().strftime("%H:%M") in ("06:59", "07:00")
    assert now_et().date() == dt.date(2026, 11, 25) != real.date()
    assert "Rehearsal clock" in (rehearsal_clock() or "") and str(file) in (rehearsal_clock() or "")
    monkeypatch.setenv(CLOCK_FILE_ENV, str(tmp_path / "absent.json"))
    with pytest.raises(ClockFileError, match="unset the variable"):
        SystemClock().now()


# ------------------------------------------------------------------ the synthetic job
SCRIPT = """
import os, sys, time
mode, *rest = sys.argv[1:]
print("task", mode, rest, "user", os.environ.get("SNOWFLAKE_USER"), "cwd", os.getcwd())
if mode == "fail":
    raise RuntimeError("synthetic failure")
if mode == "flaky":  # fails until it has been tried int(rest[0]) times
    count = os.path.join(os.getcwd(), "count")
    tries = int(open(count).read()) + 1 if os.path.exists(count) else 1
    open(count, "w").write(str(tries))
    if tries < int(rest[0]):
        raise SystemExit(f"flaky: try {tries}")
if mode == "sleep":
    time.sleep(float(rest[0]))
"""


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    work = tmp_path_factory.mktemp("emulator-synthetic")
    script = work / "task.py"
    script.write_text(SCRIPT)
    with WorkspaceEmulator(work / "ws", secrets=SECRETS,
                           cluster_env={"SNOWFLAKE_USER": "{{secrets/snowflake/user}}"}) as emulator:
        yield emulator, client(emulator), str(script)


def _task(key, script, *args, **extra):
    return {"task_key": key, "spark_python_task": {"python_file": script, "parameters": list(args)}, **extra}


def _run(emulator, w, job_id, **params):
    run_id = w.jobs.run_now(job_id, job_parameters=params or None).response.run_id
    emulator.workspace.wait_for_run(run_id, timeout=60)
    return w.jobs.get_run(run_id, include_history=True)


def _by_key(run):
    tasks: dict[str, list] = {}
    for task in sorted(run.tasks, key=lambda t: t.run_id):
        tasks.setdefault(task.task_key, []).append(task)
    return tasks


def test_retries_timeouts_and_run_if_end_in_the_documented_states(synthetic):
    from databricks.sdk.service.jobs import JobSettings

    emulator, w, script = synthetic
    settings = JobSettings.from_dict({"name": "synthetic", "parameters": [{"name": "tries", "default": "2"}],
                                      "tasks": [
        _task("flaky", script, "flaky", "{{job.parameters.tries}}", max_retries=2, min_retry_interval_millis=600_000),
        _task("slow", script, "sleep", "30", timeout_seconds=1, depends_on=[{"task_key": "flaky"}]),
        _task("after_slow", script, "ok", depends_on=[{"task_key": "slow"}]),
        _task("cleanup", script, "ok", depends_on=[{"task_key": "slow"}], run_if="ALL_DONE"),
    ]})
    job = w.jobs.create(name=settings.name, tasks=settings.tasks, parameters=settings.parameters)
    started = time.monotonic()
    run = _run(emulator, w, job.job_id)
    assert time.monotonic() - started < 20  # the 10-minute retry interval passes on the emulator's clock
    tasks = _by_key(run)
    flaky = tasks["flaky"]
    assert [(t.attempt_number, t.state.result_state.value) for t in flaky] == [(0, "FAILED"), (1, "SUCCESS")]
    assert flaky[1].start_time - flaky[0].end_time >= 600_000  # min_retry_interval_millis, on the clock
    assert w.jobs.get_run_output(flaky[0].run_id).error == "flaky: try 1"
    slow = tasks["slow"][-1]
    assert len(tasks["slow"]) == 1  # a timeout is not retried (retry_on_timeout unset)
    assert slow.state.result_state.value == "TIMEDOUT" and slow.status.termination_details.code.value == "CANCELED"
    after = tasks["after_slow"][-1]
    assert after.state.result_state.value == "UPSTREAM_FAILED"
    assert after.status.termination_details.code.value == "SKIPPED"
    assert tasks["cleanup"][-1].state.result_state.value == "SUCCESS"  # ALL_DONE runs after a timeout
    assert run.state.result_state.value == "FAILED"
    logs = w.jobs.get_run_output(tasks["cleanup"][-1].run_id).logs
    assert "user svc_outbound" in logs  # the secret scope reached the task's environment
    assert str(ROOT) not in logs.split("cwd ")[1]  # the "cluster" folder is outside the repository

    # repair with new job parameters: the chosen task and its dependents rerun, nothing else
    w.jobs.repair_run(run.run_id, rerun_tasks=["slow"], rerun_dependent_tasks=True, job_parameters={"tries": "1"})
    emulator.workspace.wait_for_run(run.run_id, timeout=30)
    again = w.jobs.get_run(run.run_id, include_history=True)
    assert [h.type.value for h in again.repair_history] == ["ORIGINAL", "REPAIR"]
    assert {t.task_key for t in again.tasks if t.run_id in again.repair_history[1].task_run_ids} == {
        "slow", "after_slow", "cleanup"}
    from databricks.sdk.errors import InvalidParameterValue

    with pytest.raises(InvalidParameterValue, match="latest_repair_id"):
        w.jobs.repair_run(run.run_id, rerun_tasks=["slow"])


def test_cancel_queue_and_a_refused_schedule(synthetic):
    from databricks.sdk.errors import InvalidParameterValue
    from databricks.sdk.service.jobs import CronSchedule, JobSettings

    emulator, w, script = synthetic
    settings = JobSettings.from_dict({"name": "sleeper", "max_concurrent_runs": 1,
                                      "tasks": [_task("sleep", script, "sleep", "30")]})
    job = w.jobs.create(name=settings.name, tasks=settings.tasks, max_concurrent_runs=1)
    first = w.jobs.run_now(job.job_id).response.run_id
    second = w.jobs.run_now(job.job_id).response.run_id
    deadline = time.monotonic() + 20
    while w.jobs.get_run(first).state.life_cycle_state.value != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert w.jobs.get_run(second).status.state.value == "QUEUED"  # API 2.2 jobs queue by default
    assert [r.run_id for r in w.jobs.list_runs(job_id=job.job_id, active_only=True)] == [second, first]
    w.jobs.cancel_run(first)
    cancelled = emulator.workspace.wait_for_run(first, timeout=10)
    assert cancelled["state"]["result_state"] == "CANCELED"
    assert cancelled["tasks"][0]["status"]["termination_details"]["code"] == "USER_CANCELED"
    deadline = time.monotonic() + 20
    while w.jobs.get_run(second).state.life_cycle_state.value != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    w.jobs.cancel_run(second)
    emulator.workspace.wait_for_run(second, timeout=10)
    assert [r.run_id for r in w.jobs.list_runs(job_id=job.job_id, completed_only=True)] == [second, first]
    with pytest.raises(InvalidParameterValue, match="L, W or #"):
        w.jobs.create(name="bad", tasks=settings.tasks, schedule=CronSchedule(
            quartz_cron_expression="0 0 6 L * ?", timezone_id="America/New_York"))


# ------------------------------------------------------------------ the outbound-lists job, from the wheel
@pytest.fixture(scope="module")
def wheel() -> Path:
    """The console's wheel built from this checkout (cached by the sources' digest under .data/rehearsal)."""
    return build_wheel(ROOT / ".data" / "rehearsal" / "wheels")


def test_the_wheel_carries_the_tasks_and_pulls_nothing_of_the_ui_onto_the_cluster(wheel):
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    base = [line.split(":", 1)[1].strip() for line in meta.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert {re.split(r"[\[<>=;]", r)[0].lower() for r in base} == {
        "snowflake-snowpark-python", "pandas", "pyarrow", "numpy", "tzdata"}
    assert "run_task = jobs.entry:main" in points and "jobs/tasks/di_749.py" in names
    assert not [n for n in names if n.startswith(("rehearsal/", "tests/"))]


@pytest.fixture(scope="module")
def workspace(demo, wheel, tmp_path_factory):
    """The emulator with the console's wheel at a workspace path, and a console.toml that points at both."""
    work = tmp_path_factory.mktemp("emulator")
    clock_file = work / "clock.json"
    settings_file = work / "console.toml"
    warehouse = demo.settings
    with WorkspaceEmulator(work / "ws", clock=EmulatorClock(file=clock_file), secrets=SECRETS, cluster_env={
        # what the cluster's policy gives every task: where the settings are, the rehearsal's clock, and the
        # Snowflake credentials from the secret scope
        "CONSOLE_SETTINGS": str(settings_file), "CONSOLE_DATA_DIR": str(warehouse.data_dir),
        "CONSOLE_WAREHOUSE_PORT": str(warehouse.warehouse_port), CLOCK_FILE_ENV: str(clock_file),
        **{f"SNOWFLAKE_{k.upper()}": f"{{{{secrets/snowflake/{k}}}}}" for k in SECRETS["snowflake"]},
    }) as emulator:
        wheel_path = emulator.workspace.put_file(WHEEL_PATH + wheel.name, wheel)
        text = (ROOT / "console.toml").read_text()
        text = text.replace('mode = "auto"', 'mode = "embedded"', 1)  # the tasks reach the embedded warehouse
        text = text.replace('spec = "jobs/outbound_lists.job.yml"', f'spec = "{ROOT / "jobs/outbound_lists.job.yml"}"')
        text = re.sub(r'(?m)^host = ""\n(profile = "")', f'host = "{emulator.host}"\n\\1', text, count=1)
        text = text.replace('wheel = ""', f'wheel = "{wheel_path}"', 1)
        settings_file.write_text(text)
        yield emulator, settings_file, work


def test_deploy_schedule_failure_and_repair_of_the_outbound_lists_job(workspace, demo, tmp_path):
    emulator, settings_file, _ = workspace
    w = client(emulator)
    # 1. deploy-job, the console's own CLI, creates the job from the spec with the wheel attached
    env = {**os.environ, "CONSOLE_SETTINGS": str(settings_file), "CONSOLE_DATA_DIR": str(tmp_path),
           "DATABRICKS_TOKEN": emulator.token}
    env.pop(CLOCK_FILE_ENV, None)
    deployed = subprocess.run([sys.executable, "-m", "console", "deploy-job"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
    assert deployed.returncode == 0, deployed.stderr[-2000:]
    assert "created job" in deployed.stdout
    job = next(iter(w.jobs.list(name="BI-2482_Outbound_List_Generation_for_GR")))
    job = w.jobs.get(job.job_id)
    assert len(job.settings.tasks) == 11
    assert all(t.libraries[0].whl.startswith(WHEEL_PATH) for t in job.settings.tasks)
    assert job.settings.schedule.quartz_cron_expression == "0 0 6 ? * MON-FRI"

    # 2. DI-749's SFTP drop is late; the clock reaches 06:00 on the business date; the schedule fires
    day = DEMO_END
    drop = demo.settings.sftp_inbox / file_name(day)
    aside = tmp_path / drop.name
    shutil.move(drop, aside)
    try:
        emulator.clock.set(at_et(day, "05:59") + dt.timedelta(seconds=58))
        deadline = time.monotonic() + 10
        while not list(w.jobs.list_runs(job_id=job.job_id)) and time.monotonic() < deadline:
            time.sleep(0.1)
        runs = list(w.jobs.list_runs(job_id=job.job_id))
        assert len(runs) == 1 and runs[0].trigger.value == "PERIODIC"
        run_id = runs[0].run_id
        emulator.workspace.wait_for_run(run_id, timeout=240)  # DI-749's two 5-minute retries: the clock jumps
    finally:
        shutil.move(aside, drop)
    run = w.jobs.get_run(run_id, include_history=True)
    tasks = _by_key(run)
    assert run.state.result_state.value == "FAILED"
    assert [t.state.result_state.value for t in tasks[DI_749]] == ["FAILED", "FAILED", "FAILED"]  # max_retries 2
    output = w.jobs.get_run_output(tasks[DI_749][-1].run_id)
    assert "SFTP drop is late" in output.error and file_name(day) in output.error
    assert "Traceback" in output.error_trace and "SourceDataMissing" in output.error_trace
    # the code that ran is the installed wheel's, not the checkout's
    assert "/libraries/outbound_ops_console-" in output.error_trace and str(ROOT / "jobs") not in output.error_trace
    for key in DI_749_DEPENDENTS:
        assert tasks[key][-1].state.result_state.value == "UPSTREAM_FAILED", key
        assert tasks[key][-1].status.termination_details.code.value == "SKIPPED"
    call_list = w.jobs.get_run_output(tasks["BI-737_GR_Call_List"][-1].run_id)
    # run_task prints the task's result as one JSON line on stdout (the log lines go to stderr)
    result = json.loads(next(line for line in call_list.logs.splitlines() if line.startswith('{"rows"')))
    assert result["rows"] > 0
    # the wheel's tasks wrote the lists of the clock's date (not the machine's), stamped on the clock
    row = demo.session.sql(
        f"select max(GENERATED_AT) as AT from {demo.settings.tables.outbound_lists} "
        f"where TASK_KEY = 'BI-737' and BUSINESS_DATE = '{day}'").collect()[0]
    assert abs(row["AT"].replace(tzinfo=dt.UTC) - at_et(day, "06:00")) < dt.timedelta(minutes=30)
    assert "secrets" not in json.dumps(emulator.workspace.get_run({"run_id": str(run_id)}))
    assert SECRETS["snowflake"]["password"] not in json.dumps(emulator.workspace.get_run({"run_id": str(run_id)}))

    # 3. the console's engine reads the run through the real SDK
    spec = load_workflow(ROOT / "jobs" / "outbound_lists.job.yml")
    engine = DatabricksEngine(StateStore(f"sqlite:///{tmp_path / 'state.db'}"), spec,
                              DatabricksSettings(read_budget_seconds=5, action_budget_seconds=30),
                              config={"host": emulator.host, "token": emulator.token})
    seen = engine.run_for_date(day)
    assert seen is not None and seen.run_id == run_id and seen.state == TaskState.FAILED
    states = {t.task_key: t for t in seen.tasks}
    assert states[DI_749].state == TaskState.FAILED and "SFTP drop is late" in (states[DI_749].error_message or "")
    assert states["BI-2482_Outbound_List_Generation_for_GR"].state == TaskState.SUCCEEDED
    assert seen.trigger == "SCHEDULE" and seen.business_date == day

    # 4. the next calendar morning is Thanksgiving: the 06:00 schedule fires, every task skips the holiday and
    #    Wednesday's uploaded lists stay as they were
    lists = demo.settings.tables.outbound_lists
    def wednesday() -> list[Any]:
        return [tuple(r) for r in demo.session.sql(
            f"select TASK_KEY, count(*) as N, max(GENERATED_AT) as AT from {lists} where BUSINESS_DATE = '{day}' "
            f"group by TASK_KEY order by TASK_KEY").collect()]
    before = wednesday()
    holiday = day + dt.timedelta(days=1)
    assert not is_business_day(holiday)
    emulator.clock.set(at_et(holiday, "07:00"))
    deadline = time.monotonic() + 10
    while len(list(w.jobs.list_runs(job_id=job.job_id))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    holiday_run = next(r for r in w.jobs.list_runs(job_id=job.job_id) if r.run_id != run_id)
    emulator.workspace.wait_for_run(holiday_run.run_id, timeout=180)
    holiday_run = w.jobs.get_run(holiday_run.run_id)
    assert holiday_run.state.result_state.value == "SUCCESS"
    first = w.jobs.get_run_output(holiday_run.tasks[0].run_id)
    assert "holiday: skipped" in first.logs
    assert wednesday() == before

    # 5. the file has arrived; that morning the console repairs DI-749 and its dependents, for Wednesday
    result = engine.submit("repair", "engineer@example.com", f"repair:{run_id}:1", business_date=day, run_id=run_id,
                           task_keys=[DI_749])
    assert result.ok, result.message
    emulator.workspace.wait_for_run(run_id, timeout=180)
    repaired = w.jobs.get_run(run_id, include_history=True)
    assert repaired.state.result_state.value == "SUCCESS"
    repair = repaired.repair_history[-1]
    assert repair.type.value == "REPAIR"
    assert {t.task_key for t in repaired.tasks if t.run_id in repair.task_run_ids} == {DI_749, *DI_749_DEPENDENTS}
    after = engine.get_run(run_id)
    assert after.state == TaskState.SUCCEEDED
    assert all(t.state == TaskState.SUCCEEDED for t in after.tasks)
    # the repair rebuilt Wednesday's lists on Thursday morning (the run's business date, not the day it ran)
    rerun = next(t for t in repaired.tasks if t.task_key == DI_749 and t.run_id in repair.task_run_ids)
    assert "holiday: skipped" not in (w.jobs.get_run_output(rerun.run_id).logs or "")
    rebuilt = {key: at for key, _, at in wednesday()}
    assert any(at.replace(tzinfo=dt.UTC) >= at_et(holiday, "07:00") for at in rebuilt.values()), rebuilt


def test_the_console_shows_upstream_failed_tasks_of_an_emulated_run(workspace, tmp_path):
    from databricks.sdk.service.jobs import JobSettings

    emulator, _, _ = workspace
    w = client(emulator)
    script = tmp_path / "fail.py"
    script.write_text("raise SystemExit('failed on purpose')\n")
    spec = load_workflow(ROOT / "jobs" / "outbound_lists.job.yml")
    keys = spec.keys
    first = keys[0]
    tasks = [_task(first, str(script))] + [_task(k, str(script), depends_on=[{"task_key": first}])
                                           for k in keys[1:]]
    settings = JobSettings.from_dict({"name": "upstream-failed", "tasks": tasks})
    job = w.jobs.create(name=settings.name, tasks=settings.tasks)
    run_id = w.jobs.run_now(job.job_id).response.run_id
    emulator.workspace.wait_for_run(run_id, timeout=60)
    engine = DatabricksEngine(StateStore(f"sqlite:///{tmp_path / 'state.db'}"), spec,
                              DatabricksSettings(job_id=job.job_id, read_budget_seconds=5),
                              config={"host": emulator.host, "token": emulator.token})
    states = {t.task_key: t.state for t in engine.get_run(run_id).tasks}
    assert all(states[k] == TaskState.UPSTREAM_FAILED for k in keys[1:]), states


def test_the_installed_wheel_finds_its_settings_outside_the_checkout(wheel, tmp_path):
    """On a cluster no console.toml sits beside the package: the wheel's packaged defaults are read."""
    from rehearsal.wheel import install_wheel

    target = install_wheel(wheel, tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")}
    env["PYTHONPATH"] = str(target)
    probe = ("import jobs.config as c; cfg = c.load_config(secrets={}); "
             "print(cfg.source); print(cfg.tables.released_lists); print(c.__file__)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    source, released, module = done.stdout.split()
    assert source == str(target / "jobs" / "defaults.toml") and module.startswith(str(target))
    assert released == "ANALYTICS.CRON_STORE.RPT_OUTBOUND_LISTS_RELEASED"


def test_the_packaged_defaults_say_what_console_toml_says():
    import tomllib

    packaged = tomllib.loads((ROOT / "jobs" / "defaults.toml").read_text())
    console = tomllib.loads((ROOT / "console.toml").read_text())
    for section, values in packaged.items():
        for key, value in values.items():
            assert console[section][key] == value, f"jobs/defaults.toml [{section}] {key} differs from console.toml"
    assert set(packaged["tables"]) == set(console["tables"])


def test_the_first_read_of_a_fresh_process_waits_for_its_client(synthetic, tmp_path):
    """A fresh UI or worker process builds its SDK client on its first read (import, credentials, the host
    probe); on a busy machine that took longer than half the 2 s read budget, and the first page after a start
    said "Databricks did not answer within 1 s (connecting)" (seen in the rehearsal). The first read now waits
    for the client up to FIRST_CONNECT_SECONDS; later reads keep the short budget."""
    from databricks.sdk.service.jobs import JobSettings

    emulator, w, script = synthetic
    settings = JobSettings.from_dict({"name": "fresh-read", "tasks": [_task("only", script, "ok")]})
    job = w.jobs.create(name=settings.name, tasks=settings.tasks)
    spec = load_workflow(ROOT / "jobs" / "outbound_lists.job.yml")
    engine = DatabricksEngine(StateStore(f"sqlite:///{tmp_path / 'state.db'}"), spec,
                              DatabricksSettings(job_id=job.job_id, read_budget_seconds=2),
                              config={"host": emulator.host, "token": emulator.token})
    emulator.probe_delay_seconds = 1.5  # the client takes 1.5 s to build: more than half the budget
    try:
        started = time.monotonic()
        assert engine.list_runs(dt.date(2026, 11, 1), dt.date(2026, 11, 30)) == []
        assert 1.5 <= time.monotonic() - started < 5
    finally:
        emulator.probe_delay_seconds = 0.0
