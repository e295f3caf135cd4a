"""One-click actions against the real engine and state store: plans, permissions, idempotency, audit."""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from console import actions
from console.auth import User
from console.clock import at_et
from console.errors import InvalidRequest, NotAuthorised
from console.settings import DEFAULT_SETTINGS, load_settings
from console.store import action_requests, audit_log
from tests.enginekit import make_env

DAY = dt.date(2026, 11, 24)
ENGINEER, OPERATOR, VIEWER = User("eng@example.com", "engineer"), User("op@example.com", "operator"), \
    User("view@example.com", "viewer")


@pytest.fixture
def env(tmp_path, monkeypatch):
    e = make_env(tmp_path, monkeypatch)
    e.adapters = SimpleNamespace(settings=load_settings(DEFAULT_SETTINGS, secrets={}), spec=e.spec, engine=e.engine,
                                 store=e.store)
    return e


def failed_run(env):
    env.plan(di_749={"fail_times": 5, "message": "SFTP drop missing"})
    run = env.engine.trigger(DAY, "scheduler")
    return env.engine.execute(run.run_id)


def short(env, keys):
    return [env.spec.task(k).short_key for k in keys]


def audit_rows(env):
    with env.store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.id))]


def requests(env):
    with env.store.connect() as conn:
        return conn.execute(sa.select(action_requests)).all()


def test_plans_list_exactly_the_tasks_that_will_run(env) -> None:
    run = failed_run(env)
    early = at_et(DAY, "07:10")
    repair = actions.plan_action(env.adapters, "repair", DAY, run, early)
    assert short(env, repair.tasks) == ["DI-749", "DI-986", "BI-820", "DI-1049", "DI-977"]
    assert short(env, repair.selected) == ["DI-749"] and not repair.upload_started
    assert actions.upload_warning(repair) is None
    from_root = actions.plan_action(env.adapters, "rerun_from", DAY, run, early, task_key="BI-2482")
    assert len(from_root.tasks) == len(env.spec.keys)
    leaf = actions.plan_action(env.adapters, "rerun_from", DAY, run, early, task_key="BI-737")
    assert short(env, leaf.tasks) == ["BI-737"]
    # The same state seen by two people gives the same key, whichever button they used.
    same = actions.plan_action(env.adapters, "rerun_from", DAY, run, early, task_key="DI-749")
    assert same.idempotency_key == repair.idempotency_key


def test_actions_that_make_no_sense_are_refused_with_the_reason(env) -> None:
    run = failed_run(env)
    now = at_et(DAY, "07:10")
    with pytest.raises(InvalidRequest, match="already has run"):
        actions.plan_action(env.adapters, "trigger", DAY, run, now)
    with pytest.raises(InvalidRequest, match="nothing to cancel"):
        actions.plan_action(env.adapters, "cancel", DAY, run, now)
    with pytest.raises(InvalidRequest, match="no run yet"):
        actions.plan_action(env.adapters, "repair", DAY + dt.timedelta(days=1), None, now)
    with pytest.raises(Exception, match="NOPE"):
        actions.plan_action(env.adapters, "rerun_from", DAY, run, now, task_key="NOPE-1")
    running = dataclasses.replace(run, state=type(run.state)("running"))
    with pytest.raises(InvalidRequest, match="still running"):
        actions.plan_action(env.adapters, "repair", DAY, running, now)


def test_permission_is_checked_in_console_and_audited(env) -> None:
    run = failed_run(env)
    plan = actions.plan_action(env.adapters, "repair", DAY, run, at_et(DAY, "07:10"))
    for who in (VIEWER, OPERATOR):
        with pytest.raises(NotAuthorised, match="engineer role"):
            actions.request_action(env.adapters, who, plan, acknowledged=False)
    assert requests(env) == []
    result = actions.request_action(env.adapters, ENGINEER, plan, acknowledged=False)
    assert result.ok and not result.duplicate
    assert [(r["actor"], r["outcome"]) for r in audit_rows(env)] == [
        ("view@example.com", "denied"), ("op@example.com", "denied"), ("eng@example.com", "accepted")]
    assert audit_rows(env)[-1]["target"].count(",") == 4  # the five tasks that will run


def test_after_the_upload_started_a_rerun_needs_the_acknowledgement(env) -> None:
    run = failed_run(env)
    plan = actions.plan_action(env.adapters, "repair", DAY, run, at_et(DAY, "08:31"))
    assert plan.upload_started and "already uploaded" in (actions.upload_warning(plan) or "")
    with pytest.raises(InvalidRequest, match="acknowledge"):
        actions.request_action(env.adapters, ENGINEER, plan, acknowledged=False)
    assert requests(env) == []
    assert actions.request_action(env.adapters, ENGINEER, plan, acknowledged=True).ok
    assert [r["outcome"] for r in audit_rows(env)] == ["refused", "accepted"]


def test_a_double_click_and_simultaneous_clicks_queue_one_rerun(env) -> None:
    run = failed_run(env)
    plan = actions.plan_action(env.adapters, "repair", DAY, run, at_et(DAY, "07:10"))
    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: actions.request_action(
            env.adapters, User(f"eng{i % 2}@example.com", "engineer"), plan, acknowledged=False), range(8)))
    assert all(r.ok for r in results)
    assert len({r.request_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert len(requests(env)) == 1
    outcomes = [r["outcome"] for r in audit_rows(env)]
    assert outcomes.count("accepted") == 1 and outcomes.count("duplicate") == 7


def test_once_the_rerun_ran_an_old_plan_is_refused_and_a_new_one_works(env) -> None:
    run = failed_run(env)
    plan = actions.plan_action(env.adapters, "repair", DAY, run, at_et(DAY, "07:10"))
    actions.request_action(env.adapters, ENGINEER, plan, acknowledged=False)
    other = actions.plan_action(env.adapters, "rerun_from", DAY, run, at_et(DAY, "07:10"), task_key="BI-737")
    with pytest.raises(InvalidRequest, match="still pending"):
        actions.request_action(env.adapters, ENGINEER, other, acknowledged=False)
    env.plan()  # DI-749 succeeds now
    env.engine.process_requests()
    repaired = env.engine.run_for_date(DAY)
    assert repaired.state.value == "succeeded" and len(repaired.repairs) == 1
    with pytest.raises(InvalidRequest, match="changed since you opened"):
        actions.request_action(env.adapters, ENGINEER, plan, acknowledged=False)
    again = actions.plan_action(env.adapters, "rerun_from", DAY, repaired, at_et(DAY, "07:20"), task_key="BI-737")
    assert again.idempotency_key != plan.idempotency_key
    assert not actions.request_action(env.adapters, ENGINEER, again, acknowledged=False).duplicate


def test_run_now_on_a_date_without_a_run(env) -> None:
    plan = actions.plan_action(env.adapters, "trigger", DAY, None, at_et(DAY, "06:30"))
    assert len(plan.tasks) == len(env.spec.keys)
    first = actions.request_action(env.adapters, ENGINEER, plan, acknowledged=False)
    second = actions.request_action(env.adapters, ENGINEER, plan, acknowledged=False)
    assert second.duplicate and second.request_id == first.request_id
    env.engine.process_requests()
    assert env.engine.run_for_date(DAY).state.value == "succeeded"
    with pytest.raises(InvalidRequest, match="since you looked"):
        actions.request_action(env.adapters, ENGINEER, plan, acknowledged=False)


def test_a_rerun_asked_before_the_upload_without_acknowledgement_never_runs_after_it(env) -> None:
    """A rerun requested at 08:20 (no upload yet, so no acknowledgement asked) that the worker reaches only at
    08:35 (it was late or down) changed lists Genesys had uploaded, without anyone agreeing (issue 14). It
    expires at the upload instead, audited, and the date is free for a request with the acknowledgement."""
    import datetime as dt

    import sqlalchemy as sa

    from console.store import action_requests

    run = failed_run(env)
    plan = actions.plan_action(env.adapters, "repair", DAY, run, at_et(DAY, "08:20"))
    assert not plan.upload_started and plan.upload_in == dt.timedelta(minutes=10)
    result = actions.request_action(env.adapters, ENGINEER, plan, acknowledged=False, now=at_et(DAY, "08:20"))
    with env.engine.store.begin() as conn:  # fifteen minutes pass before the worker looks: 08:35
        deadline = conn.execute(sa.select(action_requests.c.not_after)
                                .where(action_requests.c.id == result.request_id)).scalar_one()
        conn.execute(action_requests.update().where(action_requests.c.id == result.request_id).values(
            not_after=deadline - dt.timedelta(minutes=15)))
    assert env.engine.process_requests() == 0
    status = env.engine.request_status(result.request_id)
    assert status["status"] == "expired" and "upload of 2026-11-24 started before it could run" in status["message"]
    assert env.engine.get_run(run.run_id).repairs == []  # nothing reran
    assert [(r["actor"], r["outcome"]) for r in audit_rows(env)][-1] == ("console", "expired")
    later = actions.plan_action(env.adapters, "repair", DAY, env.engine.get_run(run.run_id), at_et(DAY, "08:36"))
    assert later.upload_started and later.upload_in is None
    assert actions.request_action(env.adapters, ENGINEER, later, acknowledged=True, now=at_et(DAY, "08:36")).ok
    with env.engine.store.connect() as conn:
        assert conn.execute(sa.select(action_requests.c.not_after).order_by(action_requests.c.id.desc())
                            ).scalars().first() is None  # acknowledged: no deadline but the TTL
