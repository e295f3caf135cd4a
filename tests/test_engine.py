"""The local workflow engine on a real SQLite state store, with the real job spec's DAG.

The task code is replaced by small modules (written to a temp package) that sleep, fail or succeed
as each test asks, so the engine's ordering, parallelism, retries, repair, cancel and recovery are what
is under test; the list jobs themselves are tested on the embedded warehouse in test_jobs.py.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from console.model import TaskState
from console.settings import ROOT
from console.store import runs
from tests.enginekit import make_env

DAY = dt.date(2026, 11, 24)
@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    return make_env(tmp_path, monkeypatch)


def test_runs_every_task_after_its_dependencies_and_in_parallel(env) -> None:
    env.plan(**{m: {"sleep": 0.3} for m in ("bi_2584", "bi_2609", "bi_737", "bi_813", "di_862", "di_749")})
    run = env.engine.execute(env.engine.trigger(DAY, "test").run_id)
    assert run.state == TaskState.SUCCEEDED
    assert [t.state for t in run.tasks] == [TaskState.SUCCEEDED] * 11
    times = {}
    for event in env.events():
        times.setdefault(event["task"], {})[event["event"]] = event["t"]
    by_module = {t.key: t.module.split(".")[-1] for t in env.spec.tasks}
    for task in env.spec.tasks:
        for dep in task.depends_on:
            assert times[by_module[task.key]]["start"] >= times[by_module[dep]]["end"], (task.key, dep)
    assert max(e.get("running", 0) for e in env.events()) >= 2  # independent tasks overlapped


def test_a_failed_task_fails_its_dependents_and_the_run(env) -> None:
    env.plan(di_749={"fail_times": 99, "message": "non-openers file missing"})
    run = env.engine.execute(env.engine.trigger(DAY, "test").run_id)
    assert run.state == TaskState.FAILED
    states = {t.task_key.split("_")[0] if not t.task_key.startswith("Outbound") else "DI-749": t.state
              for t in run.tasks}
    assert states["DI-749"] == TaskState.FAILED
    for key in ("DI-986", "BI-820", "DI-1049", "DI-977"):
        assert states[key] == TaskState.UPSTREAM_FAILED
    for key in ("BI-2482", "BI-2584", "BI-2609", "BI-737", "BI-813", "DI-862"):
        assert states[key] == TaskState.SUCCEEDED
    di749 = env.spec.task("DI-749")
    attempts = [a for a in run.attempts if a.task_key == di749.key]
    assert len(attempts) == di749.max_retries + 1
    assert "non-openers file missing" in (attempts[-1].error_message or "")
    assert "RuntimeError" in (attempts[-1].error_trace or "")
    assert "DI-749" in run.state_message or di749.key in run.state_message


def test_a_retry_that_succeeds_leaves_the_run_green(env) -> None:
    env.plan(bi_737={"fail_times": 1})
    run = env.engine.execute(env.engine.trigger(DAY, "test").run_id)
    assert run.state == TaskState.SUCCEEDED
    task = run.task(env.spec.task("BI-737").key)
    assert task is not None and task.attempt == 1


def test_repair_reruns_the_failed_task_and_its_dependents_only(env) -> None:
    env.plan(di_749={"fail_times": 3})  # fails all three attempts of the first run
    run = env.engine.execute(env.engine.trigger(DAY, "test").run_id)
    assert run.state == TaskState.FAILED
    before = {a.task_key for a in run.attempts}
    count_before = len(run.attempts)
    rerun = env.engine.repair(run.run_id, None, "engineer@example.com", reason="file arrived")
    assert [env.spec.task(k).short_key for k in rerun] == ["DI-749", "DI-986", "BI-820", "DI-1049", "DI-977"]
    run = env.engine.get_run(run.run_id)
    assert run.state == TaskState.SUCCEEDED
    assert len(run.repairs) == 1 and run.repairs[0]["requested_by"] == "engineer@example.com"
    assert len(run.attempts) == count_before + 5  # nothing else ran again
    assert before == {t.task_key for t in run.tasks}
    assert run.task(env.spec.task("DI-749").key).attempt == 3


def test_repair_of_a_chosen_task_reruns_it_and_its_dependents(env) -> None:
    run = env.engine.execute(env.engine.trigger(DAY, "test").run_id)
    rerun = env.engine.repair(run.run_id, ["DI-986"], "engineer@example.com")
    assert {env.spec.task(k).short_key for k in rerun} == {"DI-986", "BI-820", "DI-1049", "DI-977"}
    with pytest.raises(Exception, match="unknown task"):
        env.engine.repair(run.run_id, ["NOPE-1"], "engineer@example.com")


def test_a_second_trigger_for_the_same_date_returns_the_existing_run(env) -> None:
    ids: list[int] = []
    threads = [threading.Thread(target=lambda: ids.append(env.engine.trigger(DAY, "t").run_id)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1
    assert env.engine.trigger(DAY, "t", rerun=True).run_id != ids[0]
    with env.store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar() == 2


def test_a_double_clicked_request_is_queued_once_and_carried_out(env) -> None:
    first = env.engine.submit("trigger", "ops@example.com", "trigger:2026-11-24:click-1", business_date=DAY)
    second = env.engine.submit("trigger", "ops@example.com", "trigger:2026-11-24:click-1", business_date=DAY)
    assert first.request_id == second.request_id and "Already requested" in second.message
    assert env.engine.process_requests() == 1
    status = env.engine.request_status(first.request_id)
    assert status["status"] == "done", status
    assert env.engine.run_for_date(DAY).state == TaskState.SUCCEEDED


def test_run_now_twice_and_the_0600_trigger_on_one_date_make_one_run(env) -> None:
    """The 06:00 trigger and "Run now" used different keys ({job}:{date} and request:N): one date got runs 1
    and 2, both writing the same lists (issue 14)."""
    first = env.engine.submit("trigger", "ops@example.com", "trigger:2026-11-24:click-1", business_date=DAY)
    second = env.engine.submit("trigger", "eng@example.com", "trigger:2026-11-24:click-2", business_date=DAY)
    scheduled = env.engine.trigger(DAY, "scheduler", trigger="SCHEDULE")  # the worker's 06:00 job
    assert env.engine.process_requests() == 2
    env.engine.execute(scheduled.run_id)
    runs = env.engine.list_runs(DAY, DAY)
    assert [r.run_id for r in runs] == [scheduled.run_id] and runs[0].state == TaskState.SUCCEEDED
    for request in (first, second):
        status = env.engine.request_status(request.request_id)
        assert status["status"] == "done" and status["run_id"] == scheduled.run_id, status


def test_a_request_not_picked_up_within_its_ttl_is_refused_and_audited(env) -> None:
    """A "Run now" clicked while the worker was down ran whenever the worker came back, maybe after the 08:30
    upload (issue 14): past REQUEST_TTL it is expired, audited, and never carried out."""
    import datetime as dt

    import sqlalchemy as sa

    from console.store import action_requests, audit_log

    made = env.engine.submit("trigger", "ops@example.com", "trigger:2026-11-24:late", business_date=DAY)
    with env.engine.store.begin() as conn:  # the worker was down for 11 minutes
        conn.execute(action_requests.update().where(action_requests.c.id == made.request_id).values(
            requested_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11)))
    assert env.engine.process_requests() == 0
    status = env.engine.request_status(made.request_id)
    assert status["status"] == "expired" and "within 10 minutes" in status["message"]
    assert env.engine.run_for_date(DAY) is None  # nothing ran
    assert env.engine.open_requests(DAY) == []  # the date is free for a new request
    with env.engine.store.connect() as conn:
        audited = conn.execute(sa.select(audit_log.c.action, audit_log.c.outcome, audit_log.c.request_id)).all()
    assert [tuple(a) for a in audited] == [("trigger", "expired", made.request_id)]


def test_recovery_leaves_a_live_cli_run_alone_and_ends_a_past_run_that_never_started(env) -> None:
    """recover_orphans marked every RUNNING run failed without asking whether its executor was alive (a
    run-workflow from the CLI was killed too), and PENDING orphans stayed for ever (issue 14)."""
    import datetime as dt
    import socket

    from console.store import runs

    live = env.engine.trigger(DAY, "cli")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with env.engine.store.begin() as conn:  # a run-workflow in another live process on this machine
            conn.execute(runs.update().where(runs.c.run_id == live.run_id).values(
                life_cycle_state="RUNNING", executor=f"{socket.gethostname()}:{sleeper.pid}"))
        stale = env.engine.trigger(DAY - dt.timedelta(days=1), "scheduler")  # Monday's, never started
        today = env.engine.trigger(DAY + dt.timedelta(days=1), "scheduler")  # today's, for the catch-up
        assert env.engine.recover_orphans(today=DAY + dt.timedelta(days=1)) == []
        assert env.engine.get_run(live.run_id).life_cycle_state == "RUNNING"
        never = env.engine.get_run(stale.run_id)
        assert never.state == TaskState.FAILED and "never started" in never.state_message
        assert env.engine.get_run(today.run_id).life_cycle_state == "PENDING"
    finally:
        sleeper.kill()
        sleeper.wait()
    assert env.engine.recover_orphans() == [live.run_id]  # its process is gone now


def _with_task(env, short: str, **fields) -> None:
    """The engine's spec with ``fields`` set on one task, written to a job file and loaded as the console does."""
    import yaml

    from console.settings import ROOT
    from console.workflow import load_workflow

    doc = yaml.safe_load((ROOT / "jobs" / "outbound_lists.job.yml").read_text())
    for task in doc["resources"]["jobs"]["outbound_lists"]["tasks"]:
        if task["task_key"].startswith(short) or f"_{short}_" in task["task_key"]:
            task.update(fields)
    path = env.tmp / "job.yml"
    path.write_text(yaml.safe_dump(doc))
    env.engine.spec = load_workflow(path, tasks_package="enginetasks")


def test_a_task_past_its_timeout_is_timed_out_and_not_retried(env) -> None:
    """The local engine ignored a task's timeout_seconds (issue 14)."""
    _with_task(env, "BI-2482", timeout_seconds=1, max_retries=2)
    env.plan(bi_2482={"sleep": 4})
    run = env.engine.trigger(DAY, "test")
    run = env.engine.execute(run.run_id)
    attempts = [a for a in run.attempts if a.task_key.startswith("BI-2482")]
    assert [a.result_state for a in attempts] == ["TIMEDOUT"]  # a timeout is not retried
    assert "Timed out after 1 s (timeout_seconds)" in (attempts[0].error_message or "")
    assert run.state == TaskState.FAILED
    assert all(t.state == TaskState.UPSTREAM_FAILED for t in run.tasks if not t.task_key.startswith("BI-2482"))


def test_max_retries_minus_one_retries_until_it_succeeds(env) -> None:
    """max_retries: -1 (Databricks: retry indefinitely) never ran the task at all (issue 14)."""
    _with_task(env, "BI-2482", max_retries=-1)
    env.plan(bi_2482={"fail_times": 3})
    run = env.engine.execute(env.engine.trigger(DAY, "test").run_id)
    attempts = [a for a in run.attempts if a.task_key.startswith("BI-2482")]
    assert [a.result_state for a in attempts] == ["FAILED", "FAILED", "FAILED", "SUCCESS"]
    assert run.state == TaskState.SUCCEEDED


def test_cancel_stops_new_tasks_from_starting(env) -> None:
    env.plan(bi_2482={"sleep": 1.0})
    run = env.engine.trigger(DAY, "test")
    worker = threading.Thread(target=env.engine.execute, args=(run.run_id,))
    worker.start()
    deadline = time.monotonic() + 10
    while env.engine.get_run(run.run_id).life_cycle_state != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    message = env.engine.cancel(run.run_id, "ops@example.com")
    assert "stopping" in message
    worker.join(timeout=20)
    run = env.engine.get_run(run.run_id)
    assert run.state == TaskState.CANCELED
    assert run.task(env.spec.task("BI-2482").key).state == TaskState.SUCCEEDED  # finished its attempt
    assert all(t.state == TaskState.CANCELED for t in run.tasks[1:])


def test_a_run_left_running_by_a_killed_worker_is_marked_failed(env) -> None:
    env.plan(bi_2482={"sleep": 30})
    run = env.engine.trigger(DAY, "test")
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(env.tmp)!r}, {str(ROOT)!r}]
        from console.adapters.local_engine import LocalEngine
        from console.adapters.warehouse import Warehouse
        from console.store import StateStore
        from console.workflow import load_workflow
        spec = load_workflow({str(ROOT / 'jobs' / 'outbound_lists.job.yml')!r}, tasks_package="enginetasks")
        engine = LocalEngine(StateStore({env.store.url!r}), spec, Warehouse(object, "none"),
                             context_factory=lambda *a: None)
        engine.execute({run.run_id})
    """)
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while env.engine.get_run(run.run_id).tasks[0].state != TaskState.RUNNING:
            assert time.monotonic() < deadline, "the child never started the task"
            time.sleep(0.1)
    finally:
        child.kill()
        child.wait()
    assert env.engine.recover_orphans() == [run.run_id]
    run = env.engine.get_run(run.run_id)
    assert run.state == TaskState.FAILED
    assert "worker stopped" in run.state_message
    assert run.tasks[0].state == TaskState.FAILED
    # and the run can be repaired afterwards
    env.plan()
    env.engine.repair(run.run_id, None, "engineer@example.com")
    assert env.engine.get_run(run.run_id).state == TaskState.SUCCEEDED


def test_repair_refuses_a_run_that_is_still_running(env) -> None:
    run = env.engine.trigger(DAY, "test")
    with pytest.raises(Exception, match="still"):
        env.engine.repair(run.run_id, None, "engineer@example.com")
