"""Every page rendered by AppTest against a real stack: an embedded warehouse in this process, a state DB
with recorded runs, and the real adapter set built from settings (env points it at a temp data dir).

Also: the warehouse down (nothing listening on its port) and a malformed console.toml. No page may raise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console import alerts, demo
from console.adapters.protocols import Adapters
from console.app import build_adapters
from console.clock import ET, SystemClock, at_et, business_date, is_business_day, last_business_days
from console.settings import load_settings
from console.store import runs, task_runs
from console.ui import views
from jobs.demo.anomalies import ANOMALIES
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["Home.py", *sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))]
HISTORY_DAYS = 30
SEED_DAYS = 5



def stack_env(data_dir: Path, port: int) -> dict[str, str]:
    """The env a console process needs to use this stack (and never a developer's secrets.toml)."""
    return {"CONSOLE_DATA_DIR": str(data_dir), "CONSOLE_WAREHOUSE_PORT": str(port),
            "CONSOLE_SECRETS": str(data_dir / "no-secrets.toml")}


FAILED_TRACE = """Traceback (most recent call last):
  File "/work/jobs/tasks/di_749.py", line 41, in run
    drop = ctx.sftp_inbox / f"email_non_openers_{day:%Y%m%d}.csv"
FileNotFoundError: the drop is late
"""


def record_failed_run(adapters: Adapters, day: dt.date, failing: str = "DI-749") -> int:
    """A newer run of ``day`` that failed at ``failing``; its dependents upstream-failed."""
    spec = adapters.spec
    failed = spec.task(failing).key
    downstream = spec.descendants({failed}) - {failed}
    start = at_et(day, "06:01")
    moment = start
    with adapters.store.begin() as conn:
        run_id = conn.execute(runs.insert().values(
            job_name=spec.job_name, business_date=day, trigger="MANUAL", requested_by="test",
            idempotency_key=f"test-failed:{day}", life_cycle_state="TERMINATED", result_state="FAILED",
            state_message=f"Failed: {failing}", created_at=start, start_time=start, end_time=start,
            source="engine")).inserted_primary_key[0]
        for key in spec.topological_order():
            if key in downstream:
                conn.execute(task_runs.insert().values(
                    run_id=run_id, task_key=key, attempt=0, life_cycle_state="TERMINATED",
                    result_state="UPSTREAM_FAILED", end_time=moment, error_message="Not run: an upstream task failed."))
                continue
            end = moment + dt.timedelta(minutes=3)
            conn.execute(task_runs.insert().values(
                run_id=run_id, task_key=key, attempt=0, life_cycle_state="TERMINATED",
                result_state="FAILED" if key == failed else "SUCCESS", start_time=moment, end_time=end,
                error_message="FileNotFoundError: the drop is late" if key == failed else None,
                error_trace=FAILED_TRACE if key == failed else None))
            moment = end
        conn.execute(runs.update().where(runs.c.run_id == run_id).values(end_time=moment))
    return int(run_id)


def seed_warehouse(adapters: Adapters, days: list[dt.date]) -> None:
    """The real demo seed (jobs/demo/seed.py: real list jobs over synthetic data), small: 2,000 accounts."""
    from jobs.demo import seed

    with adapters.warehouse.session() as session:
        seed.build_warehouse(session, dataclasses.replace(adapters.settings, demo_accounts=2000), adapters.spec, days)


@dataclass
class Stack:
    adapters: Adapters
    env: dict[str, str]
    day: dt.date  # today's business date
    history: list[dt.date]
    failed_day: dt.date
    failed_run: int


@contextmanager
def embedded_stack(data_dir: Path) -> Iterator[tuple[Adapters, dict[str, str]]]:
    """The adapter set of an embedded stack in ``data_dir``: a warehouse server in this process on a free
    port, the env pointing at it (set while the context lasts), the server stopped at the end."""
    from console.adapters.embedded_warehouse import WarehouseServer

    env = stack_env(data_dir, free_port())
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("CONSOLE_SETTINGS", raising=False)
        settings = load_settings()
        server = WarehouseServer(settings)
        server.start()
        try:
            yield build_adapters(settings), env
        finally:
            server.stop()


@contextmanager
def running_stack(data_dir: Path, seed_days: int = 0) -> Iterator[Stack]:
    """A warehouse server in this process, history runs, today's run (waiting for a worker), a newer failed
    run of the last history day, and ``seed_days`` days of the demo warehouse (none for today)."""
    with embedded_stack(data_dir) as (adapters, env):
        now = SystemClock().now()
        day = business_date(now, adapters.settings.day_rolls_at)  # the day the pages open on
        history = last_business_days(demo.history_end(now), HISTORY_DAYS)
        demo.record_history_runs(adapters, history, seed_value=1)
        if is_business_day(now.astimezone(ET).date()) and day not in history:
            adapters.engine.trigger(day, "scheduler")  # today's run, waiting for a worker
        failed_run = record_failed_run(adapters, history[-1])
        if seed_days:
            seed_warehouse(adapters, history[-seed_days:])
        yield Stack(adapters, env, day, history, history[-1], failed_run)


def clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("console"), seed_days=SEED_DAYS) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def app(page: str) -> AppTest:
    return AppTest.from_file(str(ROOT / page), default_timeout=30)


def texts(at: AppTest) -> str:
    """Every piece of text the page shows, for "does it say X" assertions."""
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "warning", "error", "title",
                                  "subheader") for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def frames(at: AppTest) -> list[Any]:
    return [d.value for d in at.dataframe]


# ------------------------------------------------------------------------------------------------ every page
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_demo_banner(stack: Stack, page: str) -> None:
    started = time.perf_counter()
    at = app(page).run()
    assert not at.exception, at.exception
    assert views.DEMO_BANNER in texts(at)
    assert "Traceback" not in texts(at)
    assert time.perf_counter() - started < 15


def test_home_shows_the_business_date_the_workflow_and_k_of_n(stack: Stack) -> None:
    at = app("Home.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    run = stack.adapters.engine.run_for_date(stack.day)
    total = len(stack.adapters.spec.tasks)  # counted from the spec, not from the guide's prose
    assert metrics["Business date"] == stack.day.strftime("%d %b")
    assert metrics["Tasks done"] == f"{run.done_count if run else 0} of {total}"
    shown = texts(at)
    for milestone in stack.adapters.settings.milestones:
        assert milestone.name in shown
    assert "Worker down" in shown  # no worker in this test
    assert "seeded anomalies" in at.expander[0].label
    assert "DI-749 failed after its retries" in shown

    at.date_input(key="business_date").set_value(stack.failed_day).run()
    assert not at.exception
    assert at.error[0].value.startswith("**Failed** · DI-749 failed at")
    assert "FileNotFoundError: the drop is late" in at.error[0].value
    lists = rows(stack, stack.adapters.settings.tables.outbound_lists, stack.failed_day)
    assert set(frames(at)[0]["List"]) == {r["LIST_NAME"] for r in lists}


def test_workflow_draws_the_dag_table_and_history(stack: Stack) -> None:
    at = app("pages/2_Workflow.py").run()
    assert not at.exception
    charts = at.get("graphviz_chart")
    assert len(charts) == 1
    dot = charts[0].proto.spec
    for task in stack.adapters.spec.tasks:
        assert task.short_key in dot
    assert dot.count("->") == sum(len(t.depends_on) for t in stack.adapters.spec.tasks)
    table = frames(at)[0]
    assert len(table) == len(stack.adapters.spec.tasks)
    assert [c.key for c in at.get("plotly_chart")] == ["history", "landing", "durations"]
    today_run = stack.adapters.engine.run_for_date(stack.day)
    if today_run is not None and not today_run.state.is_terminal:
        assert at.button(key="action_trigger").disabled
        assert not at.button(key="action_cancel").disabled


def test_workflow_shows_a_failed_tries_stack_trace_searchable_and_downloadable(stack: Stack) -> None:
    at = app("pages/2_Workflow.py").run()
    at.date_input(key="business_date").set_value(stack.failed_day).run()
    assert not at.exception
    at.selectbox(key="task_pick").set_value(stack.adapters.spec.task("DI-749").key).run()
    trace = next(e for e in at.expander if e.label.startswith("Stack trace"))
    assert "Traceback (most recent call last)" in trace.code[0].value
    at.text_input(key="trace_search").input("filenotfound").run()
    assert not at.exception
    shown = next(e for e in at.expander if e.label.startswith("Stack trace")).code[0].value
    assert shown == "FileNotFoundError: the drop is late"  # only the lines that match, any case
    at.text_input(key="trace_search").input("no such words").run()
    assert "(no line matches)" in next(e for e in at.expander if e.label.startswith("Stack trace")).code[0].value
    at.selectbox(key="task_pick").set_value(stack.adapters.spec.task("BI-2482").key).run()
    assert not [e for e in at.expander if e.label.startswith("Stack trace")]  # a task that succeeded has none


def test_rerun_failed_tasks_asks_first_then_queues_once_and_is_audited(stack: Stack) -> None:
    at = app("pages/2_Workflow.py").run()
    at.date_input(key="business_date").set_value(stack.failed_day).run()
    assert not at.exception
    assert "failed" in frames(at)[0]["State"].tolist()
    at.button(key="action_repair").click().run()
    assert not at.exception
    shown = texts(at)
    assert "These 5 task(s) will run" in shown  # the confirmation lists them, nothing is queued yet
    for short in ("DI-749", "DI-986", "BI-820", "DI-1049", "DI-977"):
        assert f"**{short}**" in shown
    assert "already uploaded" in " ".join(w.value for w in at.warning)  # a past date: the upload happened
    assert at.button(key="action_confirm").disabled  # until the acknowledgement is ticked
    assert count_requests(stack) == 0
    at.checkbox(key="action_ack").check().run()
    opened = dict(at.session_state["workflow_action"])
    at.button(key="action_confirm").click().run()
    assert not at.exception
    assert "Requested" in "\n".join(s.value for s in at.success)
    assert count_requests(stack) == 1
    at.run()  # a rerun of the page must not queue it again
    assert count_requests(stack) == 1
    at.session_state["workflow_action"] = opened  # a second click on the same confirmation
    at.run()
    at.checkbox(key="action_ack").check().run()
    at.button(key="action_confirm").click().run()
    assert "Already requested" in "\n".join(s.value for s in at.success)
    assert count_requests(stack) == 1
    request = stack.adapters.engine.request_status(1)
    assert (request["kind"], request["run_id"], request["requested_by"]) == (
        "repair", stack.failed_run, stack.adapters.settings.local_user)
    failed = stack.adapters.spec.task("DI-749").key
    assert json.loads(request["task_keys"]) == [failed]  # the engine reruns its dependents with it

    import sqlalchemy as sa

    from console.store import audit_log

    with stack.adapters.store.connect() as conn:
        outcomes = [r.outcome for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.id))]
    assert outcomes == ["accepted", "duplicate"]

    audit = app("pages/7_Audit.py").run()
    assert not audit.exception
    log = frames(audit)[0]
    assert log.iloc[0]["Action"] == "repair" and log.iloc[0]["Who"] == stack.adapters.settings.local_user
    assert list(log["Outcome"]) == ["duplicate", "accepted"]  # newest first
    assert log.iloc[1]["Target"] == "DI-749, DI-986, BI-820, DI-1049, DI-977"
    assert audit.get("download_button")


def rows(stack: Stack, table: str, day: dt.date) -> list[dict[str, Any]]:
    """The day's rows of a warehouse table, read directly (the expected values for the pages)."""
    with stack.adapters.warehouse.session() as session:
        return [r.as_dict() for r in session.table(table).filter(f"BUSINESS_DATE = '{day}'").collect()]


def count_requests(stack: Stack) -> int:
    import sqlalchemy as sa

    from console.store import action_requests

    with stack.adapters.store.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(action_requests)).scalar() or 0)


def test_the_chosen_date_follows_the_user_to_another_page(stack: Stack) -> None:
    at = app("Home.py").run()
    at.switch_page("pages/1_Timeline.py").run()
    at.date_input(key="business_date").set_value(stack.failed_day).run()
    at.switch_page("pages/6_Alerts.py").run()
    assert not at.exception
    assert at.date_input(key="business_date").value == stack.failed_day
    assert "**DI-749** · failed after 1 try" in texts(at)


@pytest.mark.parametrize("when", ["weekend", "future"])
def test_a_date_without_a_run_is_a_message_not_a_traceback(stack: Stack, when: str) -> None:
    today = SystemClock().now().astimezone(ET).date()
    day = today + dt.timedelta(days=7) if when == "future" else \
        next(today - dt.timedelta(days=n) for n in range(1, 8) if (today - dt.timedelta(days=n)).weekday() == 5)
    at = app("pages/1_Timeline.py").run()
    at.date_input(key="business_date").set_value(day).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert ("not a business day" if when == "weekend" else "in the future") in errors


def test_the_alerts_page_shows_a_rule_that_could_not_be_evaluated(stack: Stack) -> None:
    day = stack.failed_day
    error = alerts.Condition(alerts.CONSOLE_ERROR, day, "upload_missing", alerts.CRITICAL,
                             "The alert rule upload_missing could not be evaluated: KeyError: 'upload_due'",
                             "Every other alert rule still ran.")
    alerts.sync(stack.adapters, day, [error], at_et(day, "23:35"), rules={alerts.CONSOLE_ERROR})
    at = app("pages/6_Alerts.py").run()
    at.date_input(key="business_date").set_value(day).run()
    assert not at.exception
    assert f"{day} · [critical] Alert rule could not be evaluated: upload_missing · open" in [
        e.label for e in at.expander]
    shown = texts(at)
    assert f"**{error.summary}**" in shown and "Runbook: An alert rule could not be evaluated." in shown
    assert "Evidence: Every other alert rule still ran." in [t.value for t in at.text]


def test_timeline_volumes_reconciliation_alerts_checklist_show_the_day(stack: Stack) -> None:
    at = app("pages/1_Timeline.py").run()
    at.date_input(key="business_date").set_value(stack.failed_day).run()
    assert not at.exception
    assert len(frames(at)[0]) == len(stack.adapters.settings.milestones)
    assert len(at.get("plotly_chart")) == 1  # the Gantt

    at = app("pages/4_Volumes.py").run()
    at.date_input(key="business_date").set_value(stack.failed_day).run()
    assert not at.exception
    table = frames(at)[0]
    lists = rows(stack, stack.adapters.settings.tables.outbound_lists, stack.failed_day)
    assert dict(zip(table["List"] + "/" + table["Channel"], table["Records"], strict=True)) == dict(
        Counter(f"{r['LIST_NAME']}/{r['CHANNEL']}" for r in lists))
    assert len(at.get("plotly_chart")) == 2  # bars and trend

    at = app("pages/5_Reconciliation.py").run()
    at.date_input(key="business_date").set_value(stack.failed_day).run()
    assert not at.exception
    table = frames(at)[0].set_index("List")
    tables = stack.adapters.settings.tables
    generated = Counter(r["LIST_NAME"] for r in rows(stack, tables.outbound_lists, stack.failed_day)
                        if r["DESTINATION"] == "GENESYS")
    assert table["Generated"].dropna().to_dict() == dict(generated)
    for log in rows(stack, tables.import_log, stack.failed_day):
        assert table.loc[log["LIST_NAME"], "Sent"] == log["RECORDS_SENT"]
        assert table.loc[log["LIST_NAME"], "Accepted"] == log["RECORDS_ACCEPTED"]
    results: dict[str, set[int]] = {}
    for r in rows(stack, tables.campaign_results, stack.failed_day):
        results.setdefault(r["LIST_NAME"], set()).add(r["ACCOUNT_ID"])
    assert table["Results accounts"].dropna().to_dict() == {k: len(v) for k, v in results.items()}

    at = app("pages/6_Alerts.py").run()
    at.date_input(key="business_date").set_value(stack.failed_day).run()
    assert not at.exception
    assert "**DI-749** · failed after 1 try" in texts(at)
    assert "**DI-986** · did not run: an upstream task failed" in texts(at)

    at = app("pages/3_Checklist.py").run()
    at.date_input(key="business_date").set_value(stack.failed_day).run()
    assert not at.exception
    items = [item for table in frames(at) for item in table["Item"]]
    assert items == [i.text for i in stack.adapters.settings.checklist]


def test_the_production_banner_names_the_targets_without_secrets(stack: Stack) -> None:
    from console.adapters.warehouse import Warehouse
    from console.store import StateStore

    class Engine:
        label = "Databricks workspace https://dbc-123.cloud.databricks.com"

    production = Adapters(settings=stack.adapters.settings, mode="production", spec=stack.adapters.spec,
                          store=StateStore.__new__(StateStore), warehouse=Warehouse(object, "Snowflake account acme-1"),
                          engine=Engine())
    production.store.url = "postgresql://console:s3cret@db.internal/console"
    text = views.mode_banner(production)
    assert "Production" in text and views.DEMO_BANNER not in text
    assert "Snowflake account acme-1" in text and "dbc-123.cloud.databricks.com" in text
    assert "s3cret" not in text and "***" in text


# ------------------------------------------------------------------------------------------------ failures
def test_pages_render_when_the_warehouse_is_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens here
    for key, value in stack_env(tmp_path, port).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CONSOLE_SETTINGS", raising=False)
    for page in PAGES:
        at = app(page).run()
        assert not at.exception, (page, at.exception)
        if page in ("Home.py", "pages/4_Volumes.py", "pages/5_Reconciliation.py"):
            assert f"not running on 127.0.0.1:{port}" in texts(at), page


def test_a_malformed_console_toml_shows_the_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "console.toml"
    broken.write_text((ROOT / "console.toml").read_text().replace('timezone = "America/New_York"', "timezone = 5"))
    monkeypatch.setenv("CONSOLE_SETTINGS", str(broken))
    monkeypatch.setenv("CONSOLE_DATA_DIR", str(tmp_path))
    for page in ("Home.py", "pages/2_Workflow.py"):
        at = app(page).run()
        assert not at.exception
        assert "[console] timezone" in at.error[0].value and str(broken) in at.error[0].value
        assert at.info[0].value == "Fix the file named above and start again."


def test_a_workflow_file_with_a_cycle_shows_the_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = tmp_path / "console.toml"
    spec = tmp_path / "broken.job.yml"
    settings.write_text((ROOT / "console.toml").read_text().replace(
        'spec = "jobs/outbound_lists.job.yml"', f'spec = "{spec}"'))
    text = (ROOT / "jobs" / "outbound_lists.job.yml").read_text()
    first = "        - task_key: BI-2482_Outbound_List_Generation_for_GR\n"
    cycle = "          depends_on: [{task_key: DI-977_prescreen_email_list_upload}]\n"  # the last task
    spec.write_text(text.replace(first, first + cycle))
    monkeypatch.setenv("CONSOLE_SETTINGS", str(settings))
    monkeypatch.setenv("CONSOLE_DATA_DIR", str(tmp_path))
    at = app("pages/2_Workflow.py").run()
    assert not at.exception
    assert "cycle" in at.error[0].value and str(spec) in at.error[0].value
    assert "depends_on" in at.info[0].value


def test_a_link_with_a_date_opens_that_day_once_then_the_picker_wins(stack: Stack) -> None:
    at = app("pages/1_Timeline.py")
    at.query_params["date"] = stack.failed_day.isoformat()
    at.run()
    assert not at.exception
    assert at.date_input(key="business_date").value == stack.failed_day
    other = stack.history[-2]
    at.date_input(key="business_date").set_value(other).run()
    assert at.date_input(key="business_date").value == other  # the link does not pull it back
    bad = app("pages/1_Timeline.py")
    bad.query_params["date"] = "27/11/2026"
    bad.run()
    assert not bad.exception and "expected YYYY-MM-DD" in " ".join(w.value for w in bad.warning)


def test_workflow_shows_the_cluster_utilization_of_the_memory_heavy_day(stack: Stack) -> None:
    """The demo's memory-heavy day: the memory check fails naming the node and the minutes; the panel says demo."""
    day = stack.history[-1 - next(a.days_ago for a in ANOMALIES if a.kind == "memory_heavy")]
    at = app("pages/2_Workflow.py").run()
    at.date_input(key="business_date").set_value(day).run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "Cluster utilization" in shown and "Demo data: a synthetic node timeline" in shown
    assert "worker-3 above 90 % memory for 9 minutes" in shown
    assert "utilization" in [c.key for c in at.get("plotly_chart")]
    assert "Traceback" not in shown
